"""Django file storage in PostgreSQL (`FILE_STORAGE=database`): report CSVs and charts a
worker writes on one host are served by a web process on any other, with no shared folder.

Files are rows of reports.StoredFile, written on Django's connection: a file saved inside a
transaction (a report's CSV and chart, saved with the report turning ready) goes or stays
with it. Report files are small (tens of kB); each is read whole into memory when served.
"""

from __future__ import annotations

from typing import IO, Any

from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage
from django.db import IntegrityError, transaction
from django.utils.deconstruct import deconstructible

from reports.models import StoredFile


@deconstructible
class DatabaseStorage(Storage):
    def _open(self, name: str, mode: str = "rb") -> File[Any]:
        if "w" in mode or "a" in mode or "+" in mode:
            raise ValueError("DatabaseStorage opens files for reading only; save() writes them.")
        row = StoredFile.objects.filter(name=name).values_list("content", flat=True).first()
        if row is None:
            raise FileNotFoundError(f"No stored file named {name!r}.")
        return ContentFile(bytes(row), name=name)

    def _save(self, name: str, content: IO[Any]) -> str:
        data = b"".join(
            chunk.encode() if isinstance(chunk, str) else bytes(chunk)
            for chunk in (content.chunks() if isinstance(content, File) else [content.read()])
        )
        for _ in range(10):
            try:
                with transaction.atomic():  # a savepoint inside the caller's transaction
                    StoredFile.objects.create(name=name, content=data, size=len(data))
                return name
            except IntegrityError:  # another process took the name since exists() said no
                name = self.get_available_name(name)
        raise FileExistsError(f"Could not find a free name for {name!r}.")

    def delete(self, name: str) -> None:
        StoredFile.objects.filter(name=name).delete()

    def exists(self, name: str) -> bool:
        return StoredFile.objects.filter(name=name).exists()

    def size(self, name: str) -> int:
        size = StoredFile.objects.filter(name=name).values_list("size", flat=True).first()
        if size is None:
            raise FileNotFoundError(f"No stored file named {name!r}.")
        return size

    def url(self, name: str | None) -> str:
        raise NotImplementedError(
            "Stored files have no public URL: serve them through a view that checks who asks "
            "(reports.views)."
        )
