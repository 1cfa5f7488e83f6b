"""Who may open what: every URL × {anonymous, member, another member, staff, moderator, admin}.

staff: is_staff and no permission (a moderator outside the Moderators group); moderator: in
the Moderators group; admin: a superuser. Expected statuses: 200 page, 302 off to log in (or
onwards after an action), 403 refused, 404 hidden (another member's report or notification, a
hidden post: its existence is private), 405 wrong method. Actions are tried with POST; pages
with GET.
"""

import pytest

from notifications.models import EmailDelivery, Notification
from notifications.tokens import make_unsubscribe_token
from reports.models import Report
from tests.forum.factories import CommentFactory, PostFactory

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "member", "other", "staff", "moderator", "admin")


@pytest.fixture
def world(user, other_user, staff, moderator, admin, board):
    post = PostFactory(author=user, board=board)
    comment = CommentFactory(author=user, post=post)
    hidden_post = PostFactory(author=user, board=board, is_hidden=True)
    notification = Notification.objects.create(
        recipient=user, notification_type="new_comment", actor=other_user, post=post
    )
    report = Report.objects.create(
        requester=user,
        report_type="user_activity",
        title="Mine",
        parameters={"start_date": "2026-11-01", "end_date": "2026-11-07"},
    )
    delivery = EmailDelivery.objects.create(
        idempotency_key="access-test",
        notification_type="welcome",
        user=user,
        to_email=user.email,
        subject="Welcome",
        status="sent",
    )
    token = make_unsubscribe_token(user_id=user.pk, notification_type="new_comment")
    return {
        "user": user,
        "other": other_user,
        "staff": staff,
        "moderator": moderator,
        "admin": admin,
        "board": board.slug,
        "post": post.pk,
        "comment": comment.pk,
        "hidden_post": hidden_post.pk,
        "notification": notification.pk,
        "report": report.pk,
        "delivery": delivery.pk,
        "token": token,
        "username": user.username,
    }


ALL = (200,) * 6
MEMBERS = (302, 200, 200, 200, 200, 200)
ADMIN_SITE = (302, 302, 302, 200, 200, 200)  # is_staff lets them in
MODERATORS = (302, 302, 302, 403, 200, 200)  # the Moderators group's permissions
ADMINS = (302, 302, 302, 403, 403, 200)  # no one but a superuser (or a granted permission)
OPERATE = (302, 302, 302, 403, 403, 302)  # an admin's action, then back to the dashboard
#      method, url template, {anonymous, member (owner), other member, staff, moderator, admin}
MATRIX = [
    ("GET", "/", ALL),
    ("GET", "/b/{board}/", ALL),
    ("GET", "/p/{post}/", ALL),
    ("GET", "/p/{hidden_post}/", (404, 404, 404, 404, 200, 200)),
    ("GET", "/u/{username}/", ALL),
    ("GET", "/search/?q=naija", ALL),
    ("GET", "/b/{board}/new/", MEMBERS),
    ("GET", "/p/{post}/edit/", (302, 200, 403, 403, 403, 403)),
    ("GET", "/c/{comment}/edit/", (302, 200, 403, 403, 403, 403)),
    ("GET", "/p/{post}/delete/", (302, 200, 403, 403, 403, 200)),
    ("GET", "/c/{comment}/delete/", (302, 200, 403, 403, 403, 200)),
    ("GET", "/p/{post}/like/", (405,) * 6),
    ("POST", "/p/{post}/hide/", (302, 403, 403, 403, 302, 302)),
    ("POST", "/c/{comment}/hide/", (302, 403, 403, 403, 302, 302)),
    ("GET", "/accounts/email/", MEMBERS),
    ("GET", "/accounts/password_change/", MEMBERS),
    ("GET", "/notifications/", MEMBERS),
    ("POST", "/notifications/{notification}/read/", (302, 302, 404, 404, 404, 404)),
    ("GET", "/notifications/email/", MEMBERS),
    ("GET", "/notifications/unsubscribe/{token}/", ALL),
    ("GET", "/notifications/unsubscribe/{token}x/", (400,) * 6),
    # The mail log needs notifications.view_emaildelivery: not staff's, not moderators'.
    ("GET", "/notifications/deliveries/", ADMINS),
    ("GET", "/notifications/deliveries/{delivery}/", ADMINS),
    ("GET", "/reports/", MEMBERS),
    ("GET", "/reports/new/", MEMBERS),
    ("GET", "/reports/{report}/", (302, 200, 404, 404, 200, 200)),
    ("GET", "/reports/{report}/report.csv", (302, 404, 404, 404, 404, 404)),  # not built yet
    ("GET", "/reports/progress/", MEMBERS),
    ("GET", "/admin/", ADMIN_SITE),
    ("GET", "/admin/forum/post/", MODERATORS),
    ("GET", "/admin/reports/report/", MODERATORS),
    ("GET", "/admin/notifications/emaildelivery/", ADMINS),  # mail bodies: not moderators'
    ("GET", "/admin/django_celery_results/taskresult/", ADMINS),
    ("GET", "/admin/auth/group/", ADMINS),
    ("GET", "/admin/jobs/job/", MODERATORS),
    ("GET", "/admin/jobs/job/dashboard/", MODERATORS),
    ("GET", "/admin/jobs/job/dashboard/failed/", MODERATORS),
    ("GET", "/admin/jobs/job/dashboard/workers/", MODERATORS),
    ("GET", "/admin/jobs/job/dashboard/recurring/", MODERATORS),
    ("POST", "/admin/jobs/job/dashboard/queue/default/pause/", OPERATE),  # moderators only read
    ("POST", "/admin/jobs/job/dashboard/failed/all/retry/", OPERATE),
    ("GET", "/metrics", (403,) * 6),  # a bearer token, whoever the user is
    ("GET", "/healthz", ALL),
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
