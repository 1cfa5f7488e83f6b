"""Finding a job on the dashboard: by its id (whole or a prefix) or by an argument's value.

By id: a prefix of hex digits stands for a range of UUIDs, [prefix000…, prefixfff…].
PostgreSQL compares uuids byte by byte, which is the order of their hex digits, so the primary
key's btree answers a prefix with one range scan, however big the ledger.

By argument: jobs store their arguments by position (`args`) and by name (`kwargs`), so
`user_id=42` cannot be a substring search. It becomes, for each job class whose `run` has a
parameter `user_id` at position p, `class_name = C AND (args->p = 42 OR kwargs->'user_id' =
42)`, compared as JSON. No index covers that (one on the arguments would add its cost to
every job written), so a search reads a bounded window: the first `window` jobs of a state in
its tab's order (selectors.ORDERING), through that state's partial index, and "search
further" continues where the window ended (keyset on the ordering column and id, never
OFFSET). "Any state" walks the states in the tabs' order with one window across them.
Figures on 1,000,000 rows: docs/PERFORMANCE.md.
"""

from __future__ import annotations

import inspect
import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connection

from config.celery import app
from config.params import BadParameter, parse_text
from jobs.models import Job
from jobs.ops.selectors import LIST_STATES, ORDERING, PAGE_SIZE, masked_json
from jobs.routing import import_job_classes

if TYPE_CHECKING:
    from jobs.base import ApplicationJob

MIN_PREFIX = 4  # hex digits; fewer would match a sixteenth of the ledger or more
MAX_QUERY = 200  # characters
RESULTS = PAGE_SIZE  # matches shown per page

_HEX = re.compile(r"[0-9a-f]{1,32}")  # ASCII only: "٤٢" and "ａｂｃ" are not hex digits
_ARGUMENT = re.compile(r"\s*(?P<name>[^=\s]*)\s*=(?P<value>.*)", re.DOTALL)
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
HELP = (
    "A job id, whole or its first 4+ hex digits (a whole id opens the job whatever its "
    "state); or name=value for an argument of the job's run, e.g. user_id=42 or "
    'email="ada@example.com". Values are JSON: quote strings; a number also finds it '
    'passed as a string (user_id=42 finds 42 and "42", not 420).'
)


@dataclass(frozen=True)
class IdQuery:
    prefix: str  # MIN_PREFIX to 32 lower-case hex digits

    @property
    def whole(self) -> bool:
        return len(self.prefix) == 32

    @property
    def low(self) -> uuid.UUID:
        return uuid.UUID(self.prefix.ljust(32, "0"))

    @property
    def high(self) -> uuid.UUID:
        return uuid.UUID(self.prefix.ljust(32, "f"))


@dataclass(frozen=True)
class ArgumentQuery:
    name: str
    value: Any  # as typed, parsed as JSON
    # The JSON texts a stored argument may equal: a number also as a string, and back.
    candidates: tuple[str, ...]


@dataclass(frozen=True)
class Cursor:
    """Where a window ended: the next search starts after (at, id) in `state`, or at the
    start of `state` when both are None."""

    state: str
    at: datetime | None = None
    id: uuid.UUID | None = None

    def token(self) -> str:
        at = self.at.isoformat() if self.at else ""
        return f"{self.state}_{at}_{self.id or ''}"

    @classmethod
    def from_token(cls, token: str) -> Cursor:
        damaged = BadParameter(
            "after", "The 'search further' link is damaged: start the search again."
        )
        parts = token.split("_")
        if len(parts) != 3 or parts[0] not in LIST_STATES or bool(parts[1]) != bool(parts[2]):
            raise damaged
        if not parts[1]:
            return cls(parts[0])
        try:
            return cls(parts[0], datetime.fromisoformat(parts[1]), uuid.UUID(parts[2]))
        except ValueError:
            raise damaged from None


@dataclass(frozen=True)
class Searched:
    """The part of one state a window read."""

    state: str
    rows: int
    whole: bool  # to the state's end
    continued: bool  # started after a cursor, not at the state's start
    newest_first: bool  # the tab's order: newest first, or oldest (soonest due) first


@dataclass
class Found:
    jobs: list[Job]
    searched: list[Searched] = field(default_factory=list)
    further: Cursor | None = None  # where "search further" goes on; None: nothing left
    more_matches: bool = False  # stopped at the RESULTS-th match

    @property
    def rows(self) -> int:
        return sum(part.rows for part in self.searched)


def parse_query(text: str) -> IdQuery | ArgumentQuery | None:
    """What the search box holds: an id (prefix), name=value, or None when empty. Raises
    BadParameter saying how to write it."""
    text = parse_text(text, name="The search")
    if len(text) > MAX_QUERY:
        raise BadParameter(
            "q", f"The search is {len(text):,} characters long: keep it under {MAX_QUERY}."
        )
    if not text.strip():
        return None
    if "=" in text:
        return _argument_query(text)
    digits = text.strip().replace("-", "").lower()
    if not _HEX.fullmatch(digits):
        raise BadParameter(
            "q",
            f"{text.strip()!r} is no job id: an id is written in hex digits 0-9 and a-f "
            f"(at least {MIN_PREFIX}). To find jobs by an argument, write name=value, "
            "e.g. user_id=42.",
        )
    if len(digits) < MIN_PREFIX:
        raise BadParameter(
            "q", f"Type at least {MIN_PREFIX} hex digits of the id, not {len(digits)}."
        )
    return IdQuery(digits)


def parse_state(text: str) -> str:
    """A tab's state, or "" for any state."""
    if text in ("", "any"):
        return ""
    if text not in LIST_STATES:
        raise BadParameter(
            "state", f"Unknown state {text[:40]!r}: use one of {', '.join(LIST_STATES)}, or any."
        )
    return text


def jobs_by_id(query: IdQuery, *, state: str = "") -> tuple[list[Job], bool]:
    """Jobs whose id starts with the prefix (in one state if given), in id order: the first
    RESULTS and whether more match. One range scan of the primary key."""
    jobs = Job.objects.filter(id__gte=query.low, id__lte=query.high)
    if state:
        jobs = jobs.filter(state=state)
    rows = list(jobs.order_by("id")[: RESULTS + 1])
    return _masked(rows[:RESULTS]), len(rows) > RESULTS


def jobs_by_argument(
    query: ArgumentQuery, *, state: str = "", window: int, after: Cursor | None = None
) -> Found:
    """Jobs with that argument among the next `window` jobs of `state` (every state when
    empty, in the tabs' order), from `after` on: at most RESULTS of them. Raises BadParameter
    when no job class has a parameter of that name."""
    positions = parameter_positions(query.name)
    if not positions:
        names = ", ".join(parameter_names()) or "none"
        raise BadParameter(
            "q",
            f"No job's run takes a parameter named {query.name!r}. Known parameter names: {names}.",
        )
    states = [state] if state else list(LIST_STATES)
    if after is not None:
        if after.state not in states:
            raise BadParameter(
                "after", "The 'search further' link is for another state: start again."
            )
        states = states[states.index(after.state) :]
    match, match_params = _match_sql(query, positions)
    found = Found(jobs=[])
    ids: list[uuid.UUID] = []
    budget = window
    for i, one in enumerate(states):
        keyset = after if after is not None and after.state == one and after.at else None
        scan = _scan(
            one, keyset, rows=budget, matches=RESULTS - len(ids), match=(match, match_params)
        )
        ids += [row[0] for row in scan.matches]
        rows = scan.matches[-1][2] if scan.capped else scan.rows
        budget -= rows
        whole = not scan.capped and not scan.beyond
        if rows or not whole:  # an empty state is not worth a mention
            found.searched.append(
                Searched(
                    one,
                    rows,
                    whole=whole,
                    continued=keyset is not None,
                    newest_first=ORDERING[one].startswith("-"),
                )
            )
        if scan.capped:
            last_id, last_at, _ = scan.matches[-1]
            found.further, found.more_matches = Cursor(one, last_at, last_id), True
            break
        if scan.beyond:
            found.further = Cursor(one, scan.end_at, scan.end_id)
            break
        if budget <= 0 or len(ids) >= RESULTS:
            found.further = Cursor(states[i + 1]) if i + 1 < len(states) else None
            break
    by_id = Job.objects.in_bulk(ids)
    found.jobs = _masked([by_id[job_id] for job_id in ids if job_id in by_id])
    return found


def parameter_positions(name: str) -> dict[str, tuple[int | None, bool]]:
    """{job class: (position of `name` among run's positional parameters or None, whether it
    may be passed by keyword)} for every registered job class whose run has that parameter.

    The registry is Celery's (`app.tasks`), filled from every app's tasks module, and the
    signature is the one enqueue binds arguments to (ApplicationJob.run_signature)."""
    found = {}
    for task in _job_classes():
        position: int | None = 0
        for parameter in task.run_signature.parameters.values():
            kind = parameter.kind
            if kind is inspect.Parameter.VAR_POSITIONAL:
                position = None  # those after it are keyword-only
                continue
            if parameter.name == name and kind is not inspect.Parameter.VAR_KEYWORD:
                keyword = kind is not inspect.Parameter.POSITIONAL_ONLY
                positional = kind is not inspect.Parameter.KEYWORD_ONLY
                found[task.name] = (position if positional else None, keyword)
                break
            if position is not None and kind is not inspect.Parameter.KEYWORD_ONLY:
                position += 1
    return found


def parameter_names() -> list[str]:
    """Every named parameter of a registered job's run, for the message of an unknown one."""
    names: set[str] = set()
    for task in _job_classes():
        names.update(
            p.name
            for p in task.run_signature.parameters.values()
            if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        )
    return sorted(names)


# --- helpers ------------------------------------------------------------------------------


def _job_classes() -> list[ApplicationJob]:
    """Every registered job class, with every app's tasks module imported first (a web
    process has not necessarily imported them)."""
    from jobs.base import ApplicationJob

    import_job_classes()
    return [task for task in list(app.tasks.values()) if isinstance(task, ApplicationJob)]


def _argument_query(text: str) -> ArgumentQuery:
    example = "write name=value, e.g. user_id=42"
    parsed = _ARGUMENT.fullmatch(text)
    assert parsed is not None  # the text holds "="
    name, value_text = parsed["name"], parsed["value"].strip()
    if not name:
        raise BadParameter("q", f"Name the argument before '=': {example}.")
    if not name.isidentifier():
        raise BadParameter("q", f"{name[:40]!r} is no parameter name: {example}.")
    if not value_text:
        raise BadParameter("q", f"Give a value after '{name}=': e.g. {name}=42.")
    try:
        value = json.loads(value_text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise BadParameter(
            "q",
            f"{value_text[:40]!r} is no JSON value: write numbers as they are (42), strings "
            f'in double quotes ("welcome"), or true, false, null.',
        ) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise BadParameter("q", f"{value_text[:40]!r} is too large a number.")
    candidates = [value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        candidates.append(value_text)  # 42 also as "42"
    elif isinstance(value, str) and _JSON_NUMBER.fullmatch(value):
        number = json.loads(value)
        if not (isinstance(number, float) and not math.isfinite(number)):
            candidates.append(number)  # "42" also as 42
    return ArgumentQuery(name, value, tuple(json.dumps(c) for c in candidates))


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _match_sql(
    query: ArgumentQuery, positions: dict[str, tuple[int | None, bool]]
) -> tuple[str, list[Any]]:
    values = ", ".join(["%s::jsonb"] * len(query.candidates))
    clauses, params = [], []
    for class_name, (position, keyword) in sorted(positions.items()):
        parts, part_params = [], []
        if position is not None:
            parts.append(f"args -> %s IN ({values})")
            part_params += [position, *query.candidates]
        if keyword:
            parts.append(f"kwargs -> %s IN ({values})")
            part_params += [query.name, *query.candidates]
        clauses.append(f"(class_name = %s AND ({' OR '.join(parts)}))")
        params += [class_name, *part_params]
    return " OR ".join(clauses), params


@dataclass(frozen=True)
class _Scan:
    matches: list[tuple[uuid.UUID, datetime, int]]  # id, ordering value, row number
    capped: bool  # more matches than asked for: the last one asked for ends the window
    rows: int  # rows read (not counting the one that tells whether more follow)
    beyond: bool  # the state has rows after the window
    end_at: datetime | None
    end_id: uuid.UUID | None


def _scan(
    state: str,
    after: Cursor | None,
    *,
    rows: int,
    matches: int,
    match: tuple[str, list[Any]],
) -> _Scan:
    """One window of one state: up to `rows` rows in the tab's order after the cursor, read
    through the state's partial index; its first `matches` matching rows (one more tells
    whether the window stopped there), its last row, and whether a row follows it."""
    column = ORDERING[state].lstrip("-")
    newest_first = ORDERING[state].startswith("-")
    direction, compare = ("DESC", "<") if newest_first else ("ASC", ">")
    keyset, keyset_params = "", []
    if after is not None:
        # The column alone first, so that the index bounds the scan; the pair breaks ties.
        keyset = f"AND {column} {compare}= %s AND ({column}, id) {compare} (%s, %s)"
        keyset_params = [after.at, after.at, after.id]
    order = f"{column} {direction}, id {direction}"
    # One pass, nothing materialized: the window's rows are numbered (n) and matched as the
    # index yields them; a running count of matches (hits) keeps only the first ones. Kept
    # rows: those matches, the window's last row (where "search further" starts) and the row
    # after it (whether there is more).
    sql = f"""
        SELECT id, at, n, matched AND hits <= %s, n = least(%s, total), n > %s FROM (
            SELECT id, at, n, matched, count(*) OVER () AS total,
                   count(*) FILTER (WHERE matched) OVER (ORDER BY n) AS hits
            FROM (
                SELECT id, at, n, matched AND n <= %s AS matched FROM (
                    SELECT id, {column} AS at, row_number() OVER (ORDER BY {order}) AS n,
                           coalesce({match[0]}, false) AS matched
                    FROM jobs_job WHERE state = %s {keyset}
                    ORDER BY {order} LIMIT %s
                ) read
            ) w
        ) x
        WHERE (matched AND hits <= %s) OR n >= least(%s, total)
        ORDER BY n
    """  # column and order come from ORDERING; every value is a parameter
    limit = matches + 1  # one more match tells whether the window stopped there
    params = [limit, rows, rows, rows, *match[1], state, *keyset_params, rows + 1, limit, rows]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        result = cursor.fetchall()
    found = [(row[0], row[1], row[2]) for row in result if row[3]]
    end = next((row for row in result if row[4]), None)
    return _Scan(
        matches=found[:matches],
        capped=len(found) > matches,
        rows=end[2] if end else 0,
        beyond=any(row[5] for row in result),
        end_at=end[1] if end else None,
        end_id=end[0] if end else None,
    )


def _masked(jobs: list[Job]) -> list[Job]:
    """Arguments shown as a tab shows them (selectors.page): JSON, as the search box takes
    them, so that a value read in the results can be typed back as name=value."""
    for job in jobs:
        job.masked_args = masked_json(job.args)
        job.masked_kwargs = masked_json(job.kwargs) if job.kwargs else ""
    return jobs
