"""Every form, query and path parameter, fed hostile values: never a 500, never a live script.

The site runs as in production here (DEBUG off, `raise_request_exception` off): a bug is
the 500 page config.views.server_error serves, and the tests read its status code.

Values: empty, 1 MB, a list where one value belongs, RTL override and zero-width characters,
emoji, NUL and other control characters, HTML/script, SQL-looking text, huge and negative
numbers, digits that are not ASCII (², ٣, １), bad dates and the years 9999 and 0001. Staff
pages (the jobs dashboard, every model admin, the sent-mail log) get every parameter they
read. The browser test of a stored script is
tests/browser/test_forum_flow.py::test_stored_script_does_not_execute.
"""

from urllib.parse import quote

import pytest
from django.contrib import admin as django_admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.views.main import ALL_VAR, ERROR_FLAG, ORDER_VAR, PAGE_VAR, SEARCH_VAR
from django.db import transaction
from django.test import Client, RequestFactory
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from forum.models import Post
from jobs.ops.selectors import LIST_STATES
from tests.forum.factories import CommentFactory, PostFactory
from tests.jobs.sample_jobs import RecordJob

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert('x')</script>"
HOSTILE = [
    "",
    " " * 10,
    "x" * 1_000_000,
    "\u202eevil\u202c",  # right-to-left override
    "zero\u200bwidth\ufeff",
    "🇳🇬🔥👍🏿" * 50,
    "nul\x00byte",
    SCRIPT,
    '"><img src=x onerror=alert(1)>',
    "'; DROP TABLE forum_post; --",
    "1 OR 1=1",
    "../../etc/passwd",
    "%00%27%22",
    "-1",
    "99999999999999999999999",
    "2026-02-30",
    "\\",
]
# What an integer, id, page or date parameter meets; every parameter gets all of them.
NUMBERS = ["²", "٣", "１", "-1", " 7 ", "1e3", "99999999999999999999999", str(2**63), "9" * 5000]
DATES = ["9999-12-31", "0001-01-01", "2026-02-30", "٢٠٢٦-٠١-٠١", "12/31/2026"]
TEXT = ["", " \t", "nul\x00byte", "\x1b[31m", "x" * 5000, SCRIPT, "../../etc/passwd"]
VARIANTS = NUMBERS + DATES + TEXT

FORMS = {
    "/accounts/signup/": ["username", "email", "display_name", "password1", "password2"],
    "/accounts/login/": ["username", "password"],
    "/accounts/password_reset/": ["email"],
    "/b/{board}/new/": ["title", "body"],
    "/p/{post}/comment/": ["body"],
    "/p/{post}/edit/": ["title", "body"],
    "/c/{comment}/edit/": ["body"],
    "/accounts/email/": ["email", "password"],
    "/accounts/password_change/": ["old_password", "new_password1", "new_password2"],
    "/reports/new/": ["report_type", "start_date", "end_date", "date", "board_id", "scope"],
    "/notifications/email/": ["new_comment", "new_like", "welcome"],
}
QUERIES = {
    "/search/": ["q", "board", "author", "date_from", "date_to", "sort", "page"],
    "/": ["page"],
    "/b/{board}/": ["page"],
    "/p/{post}/": ["page"],
    "/u/{username}/": ["page"],
    "/notifications/": ["page"],
    "/reports/": ["page", "all"],
    "/reports/progress/": ["id"],
}
# Paths with a parameter in them: `{}` is where the hostile value goes.
MEMBER_PATHS = [
    "/b/{}/",
    "/u/{}/",
    "/p/{}/",
    "/c/{}/edit/",
    "/reports/{}/",
    "/reports/{}/report.csv",
    "/notifications/unsubscribe/{}/",
    "/accounts/reset/{}/set-password/",
]


@pytest.fixture
def client():
    """As gunicorn serves with DEBUG=0: an exception is answered by handler500, not raised."""
    return Client(raise_request_exception=False)


@pytest.fixture(autouse=True)
def production(settings):
    settings.DEBUG = False


@pytest.fixture
def targets(user, board):
    post = PostFactory(author=user, board=board)
    return {
        "board": board.slug,
        "post": post.pk,
        "username": user.username,
        "comment": CommentFactory(author=user, post=post).pk,
    }


def check(response, what: str = "") -> None:
    assert response.status_code < 500, f"{what}: {response.status_code}"
    if response.get("Content-Type", "").startswith("text/html"):
        assert SCRIPT not in response.content.decode(errors="replace")  # escaped if echoed


def check_all(client, requests: list[tuple[str, str, dict]]) -> None:
    """Send every (method, url, data); fail listing every request that got a server error."""
    errors = []
    for method, url, data in requests:
        # Each request on its own, as in production: what one wrote, or the transaction a
        # failed one aborted, does not reach the next.
        savepoint = transaction.savepoint()
        response = getattr(client, method)(url, data)
        transaction.savepoint_rollback(savepoint)
        if response.status_code >= 500:
            errors.append(
                f"{method.upper()} {url[:120]} {str(data)[:120]} → {response.status_code}"
            )
        elif response.get("Content-Type", "").startswith("text/html"):
            assert SCRIPT not in response.content.decode(errors="replace"), url
    assert not errors, f"{len(errors)} server errors:\n" + "\n".join(errors)


def each_parameter(method: str, url: str, names: list[str], **fixed) -> list:
    """One request per parameter and value: a bad early parameter must not hide a later one."""
    return [(method, url, {**fixed, name: value}) for name in names for value in VARIANTS]


def each_path(method: str, template: str) -> list:
    return [(method, template.format(quote(value, safe="")), {}) for value in VARIANTS]


@pytest.mark.parametrize("url", list(FORMS))
def test_every_form_refuses_or_accepts_hostile_values_cleanly(user_client, targets, url):
    for value in HOSTILE:
        data = {field: value for field in FORMS[url]}
        check(user_client.post(url.format(**targets), data))
    # a list where one value belongs
    check(user_client.post(url.format(**targets), {f: ["a", "b"] for f in FORMS[url]}))


@pytest.mark.parametrize("url", list(QUERIES))
def test_every_query_parameter_takes_hostile_values(user_client, targets, url):
    for value in HOSTILE[:2] + HOSTILE[3:]:  # 1 MB does not fit a URL; the form test has it
        check(user_client.get(url.format(**targets), {p: value for p in QUERIES[url]}))
    check_all(user_client, each_parameter("get", url.format(**targets), QUERIES[url]))


@pytest.mark.parametrize("template", MEMBER_PATHS)
def test_every_path_parameter_takes_hostile_values(user_client, template):
    check_all(user_client, each_path("get", template))


# --- Staff pages ---------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client, admin):
    client.force_login(admin)
    return client


@pytest.fixture
def dashboard_rows(db):
    """A job and a periodic task, so lists, job pages and actions have something to show."""
    every_minute = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.MINUTES)
    task = PeriodicTask.objects.create(
        name="t", task="RecordJob", args='["hostile"]', interval=every_minute
    )
    return {"job": RecordJob.delay("hostile").id, "task": task.pk}


def dashboard_requests(job_id, task_id) -> list:
    """Every page and action of the jobs dashboard (jobs/admin_views.py), with each parameter."""
    url = lambda name, **kwargs: reverse(f"admin:jobs_dashboard{name}", kwargs=kwargs)  # noqa: E731
    requests = each_parameter("get", url(""), ["page", "window"])
    requests += each_parameter("get", url("_triage"), ["window"])
    requests += each_parameter("get", url("_workers"), ["page"])
    requests += each_parameter("get", url("_recurring"), ["page"])
    for state in LIST_STATES:
        requests += each_parameter(
            "get", url("_list", state=state), ["page", "class", "queue", "since"], since="1h"
        )
        requests += each_parameter(
            "post", url("_bulk", state=state, action="retry"), ["class", "queue", "since"]
        )
    for action in ("discard", "run_now"):  # every action reads the filter as retry does
        requests += each_parameter("post", url("_bulk", state="failed", action=action), ["class"])
    requests += each_path("get", "/admin/jobs/job/dashboard/{}/")
    requests += each_path("get", "/admin/jobs/job/dashboard/job/{}/")
    requests += each_path("post", "/admin/jobs/job/dashboard/job/{}/retry/")
    requests += each_path("post", f"/admin/jobs/job/dashboard/job/{job_id}/{{}}/")
    requests += each_path("post", "/admin/jobs/job/dashboard/{}/all/retry/")
    requests += each_parameter(
        "post", url("_job_action", job_id=job_id, action="run_now"), ["next"]
    )
    requests += each_path("post", "/admin/jobs/job/dashboard/queue/{}/pause/")
    requests += each_path("post", "/admin/jobs/job/dashboard/queue/reports/{}/")
    requests += each_path("post", "/admin/jobs/job/dashboard/recurring/{}/run/")
    requests += [("post", url("_periodic_run", task_id=task_id), {})]
    return requests


def test_every_jobs_dashboard_parameter_takes_hostile_values(staff_client, dashboard_rows):
    check_all(staff_client, dashboard_requests(dashboard_rows["job"], dashboard_rows["task"]))


def changelist_parameters(model_admin, request) -> list[str]:
    """What a model admin's change list reads: admin's own parameters, each filter's, and the
    date drill-down's."""
    names = [PAGE_VAR, ORDER_VAR, SEARCH_VAR, ERROR_FLAG, ALL_VAR, "_to_field", "_popup"]
    for spec in model_admin.get_changelist_instance(request).filter_specs:
        names += spec.expected_parameters()
    if model_admin.date_hierarchy:
        names += [f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day")]
    return names


MODEL_ADMINS = sorted(
    django_admin.site._registry.items(), key=lambda item: item[0]._meta.label
)  # every model admin, ours and the packages' (Celery beat and results, auth)


@pytest.mark.parametrize(
    "model_admin", [ma for _, ma in MODEL_ADMINS], ids=[m._meta.label for m, _ in MODEL_ADMINS]
)
def test_every_model_admin_parameter_takes_hostile_values(
    staff_client, admin, dashboard_rows, targets, model_admin
):
    opts = model_admin.model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    request = RequestFactory().get(changelist)
    request.user = admin
    requests = each_parameter("get", changelist, changelist_parameters(model_admin, request))
    if model_admin.date_hierarchy:  # a whole drill-down: 9999-12-31 is the day that overflows
        year, month, day = (f"{model_admin.date_hierarchy}__{p}" for p in ("year", "month", "day"))
        requests += each_parameter("get", changelist, [year], **{month: "12", day: "31"})
        requests += each_parameter("get", changelist, [month, day], **{year: "9999"})
        requests += each_parameter("get", changelist, [month, day], **{year: "2026"})
    actions = [name for name in model_admin.get_actions(request)] or ["delete_selected"]
    requests += each_parameter(
        "post", changelist, [ACTION_CHECKBOX_NAME, "index"], action=actions[0], index="0"
    )
    requests += each_parameter("post", changelist, ["action"], **{ACTION_CHECKBOX_NAME: "1"})
    for view in ("change", "history", "delete"):
        requests += each_path("get", changelist + "{}/" + f"{view}/")
    check_all(staff_client, requests)


def test_the_sent_mail_log_takes_hostile_values(staff_client):
    requests = each_parameter("get", reverse("notifications:deliveries"), ["status", "page"])
    requests += each_path("get", "/notifications/deliveries/{}/")
    check_all(staff_client, requests)


def test_hostile_text_is_stored_as_text_and_shown_escaped(user_client, targets, board):
    title = "Title " + SCRIPT
    response = user_client.post(f"/b/{board.slug}/new/", {"title": title, "body": SCRIPT})
    post = Post.objects.get(title=title)
    page = user_client.get(post.get_absolute_url()).content.decode()
    assert SCRIPT not in page and "&lt;script&gt;" in page
    assert response.status_code == 302
