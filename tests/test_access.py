"""Who may open what: every URL × {anonymous, member, another member, staff}.

Expected statuses: 200 page, 302 off to log in (or onwards after an action), 403 refused,
404 hidden (another member's report or notification: its existence is private), 405 wrong
method. Actions are tried with POST; pages with GET.
"""

import pytest

from notifications.models import EmailDelivery, Notification
from notifications.tokens import make_unsubscribe_token
from reports.models import Report
from tests.forum.factories import CommentFactory, PostFactory

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "member", "other", "staff")


@pytest.fixture
def world(user, other_user, staff, board):
    post = PostFactory(author=user, board=board)
    comment = CommentFactory(author=user, post=post)
    notification = Notification.objects.create(
        recipient=user, notification_type="new_comment", actor=other_user, post=post
    )
    report = Report.objects.create(
        requester=user, report_type="user_activity", title="Mine",
        parameters={"start_date": "2026-11-01", "end_date": "2026-11-07"},
    )  # fmt: skip
    delivery = EmailDelivery.objects.create(
        idempotency_key="access-test", notification_type="welcome", user=user,
        to_email=user.email, subject="Welcome", status="sent",
    )  # fmt: skip
    token = make_unsubscribe_token(user_id=user.pk, notification_type="new_comment")
    return {
        "user": user, "other": other_user, "staff": staff, "board": board.slug,
        "post": post.pk, "comment": comment.pk, "notification": notification.pk,
        "report": report.pk, "delivery": delivery.pk, "token": token,
        "username": user.username,
    }  # fmt: skip


#      method, url template, {anonymous, member (owner), other member, staff}
MATRIX = [
    ("GET", "/", (200, 200, 200, 200)),
    ("GET", "/b/{board}/", (200, 200, 200, 200)),
    ("GET", "/p/{post}/", (200, 200, 200, 200)),
    ("GET", "/u/{username}/", (200, 200, 200, 200)),
    ("GET", "/search/?q=naija", (200, 200, 200, 200)),
    ("GET", "/b/{board}/new/", (302, 200, 200, 200)),
    ("GET", "/p/{post}/edit/", (302, 200, 403, 403)),
    ("GET", "/c/{comment}/edit/", (302, 200, 403, 403)),
    ("GET", "/p/{post}/like/", (405, 405, 405, 405)),
    ("POST", "/p/{post}/hide/", (302, 403, 403, 302)),
    ("POST", "/c/{comment}/hide/", (302, 403, 403, 302)),
    ("GET", "/accounts/email/", (302, 200, 200, 200)),
    ("GET", "/accounts/password_change/", (302, 200, 200, 200)),
    ("GET", "/notifications/", (302, 200, 200, 200)),
    ("POST", "/notifications/{notification}/read/", (302, 302, 404, 404)),
    ("GET", "/notifications/email/", (302, 200, 200, 200)),
    ("GET", "/notifications/unsubscribe/{token}/", (200, 200, 200, 200)),
    ("GET", "/notifications/unsubscribe/{token}x/", (400, 400, 400, 400)),
    ("GET", "/notifications/deliveries/", (302, 302, 302, 200)),
    ("GET", "/notifications/deliveries/{delivery}/", (302, 302, 302, 200)),
    ("GET", "/reports/", (302, 200, 200, 200)),
    ("GET", "/reports/new/", (302, 200, 200, 200)),
    ("GET", "/reports/{report}/", (302, 200, 404, 200)),
    ("GET", "/reports/{report}/report.csv", (302, 404, 404, 404)),  # not built yet
    ("GET", "/reports/progress/", (302, 200, 200, 200)),
    ("GET", "/admin/", (302, 302, 302, 200)),
    ("GET", "/admin/jobs/job/dashboard/", (302, 302, 302, 403)),  # no jobs.view_job
    ("GET", "/admin/jobs/job/dashboard/failed/", (302, 302, 302, 403)),
    ("GET", "/metrics", (403, 403, 403, 403)),  # a bearer token, whoever the user is
    ("GET", "/healthz", (200, 200, 200, 200)),
]


@pytest.mark.parametrize(("method", "template", "expected"), MATRIX, ids=[m[1] for m in MATRIX])
def test_access(client, world, method, template, expected):
    url = template.format(**world)
    got = []
    for role in ROLES:
        client.logout()
        if role != "anonymous":
            client.force_login(world["user" if role == "member" else role])
        response = client.post(url) if method == "POST" else client.get(url)
        got.append(response.status_code)
    assert tuple(got) == expected, f"{method} {url}: {dict(zip(ROLES, got, strict=True))}"


def test_anonymous_pages_that_need_an_account_send_to_the_login_page(client, world):
    response = client.get(f"/b/{world['board']}/new/")
    assert response["Location"].startswith("/accounts/login/?next=")


def test_unsubscribe_links_are_signed_per_user_and_type(world):
    other = make_unsubscribe_token(user_id=world["other"].pk, notification_type="new_comment")
    assert other != world["token"]
    assert str(world["user"].pk) not in world["token"].split(":")[-1]  # not a bare id


@pytest.mark.worker
def test_flower_asks_for_its_basic_auth(processes):
    import base64
    import http.client

    from devtools.embedded import free_port, wait_for_port

    port = free_port()
    flower = processes.start(["-m", "celery", "-A", "config", "flower", "--address=127.0.0.1",
                              f"--port={port}", "--basic-auth=ops:s3cret-flower"])  # fmt: skip
    wait_for_port(port, flower, timeout=60)

    def get(path: str, auth: str | None = None) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        token = base64.b64encode((auth or "").encode()).decode()
        headers = {"Authorization": f"Basic {token}"} if auth else {}
        conn.request("GET", path, headers=headers)
        return conn.getresponse().status

    assert get("/") == 401
    assert get("/", "ops:wrong") == 401
    assert get("/", "ops:s3cret-flower") == 200
    assert get("/healthcheck") == 200  # for container health checks, no secrets
