"""The demo admin of `make dev`: login `admin`, password `naija-admin` (stated in the README)."""

from typing import Any

from django.core.management.base import BaseCommand

from forum.models import User

USERNAME, PASSWORD, EMAIL = "admin", "naija-admin", "admin@naija-forum.test"


class Command(BaseCommand):
    help = f"Create the demo superuser '{USERNAME}' (password '{PASSWORD}') if it does not exist."

    def handle(self, *args: Any, **options: Any) -> None:
        if User.objects.filter(username=USERNAME).exists():
            return
        User.objects.create_superuser(
            username=USERNAME, email=EMAIL, password=PASSWORD, display_name="Forum Admin"
        )
        self.stdout.write(f"Created demo admin: {USERNAME} / {PASSWORD}")
