"""Nothing hidden or deleted reaches a member, through any channel.

A marker, next to a word to search for, is planted in posts and comments that a moderator
then hides or deletes, after members commented, liked, were notified and built reports. The
marker is then looked for in everything anyone logged out, the authors and another member
can get: every page, search, every report type they may request (page, CSV, SVG chart,
progress), each email and each in-app notification. Posts and comments have no soft delete:
a deleted one is gone from the database, so what could still show it is what was derived
from it (search, reports, notifications).
"""

import uuid
from dataclasses import dataclass

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from forum import services as forum
from reports import services as reports
from search import services as search
from tests.forum.factories import BoardFactory, UserFactory, moderators_group
from tests.notifications.helpers import run_email_jobs

pytestmark = pytest.mark.django_db

MARKER = f"hushhush{uuid.uuid4().hex[:8]}"  # looked for; never typed into a search
SEEK = "zanzibarquokka"  # planted next to it, and searched for


@dataclass
class World:
    urls: dict[str, list[str]]  # viewer → every URL they can open
    viewers: dict[str, Client]
    reports: dict[str, list[int]]  # viewer → their reports, oldest first


def build_report(requester, report_type: str, **parameters) -> int:
    report = reports.request_report(
        requester=requester, report_type=report_type, parameters=parameters
    )
    reports.generate_report(
        report_type=report_type,
        parameters=report.parameters,
        user_id=requester.pk,
        job_id=str(report.job_id),
    )
    return report.pk


@pytest.fixture
def world(settings, tmp_path) -> World:
    settings.MEDIA_ROOT = tmp_path
    member, author, other = (UserFactory(username=name) for name in ("member", "author", "other"))
    moderator = UserFactory(is_staff=True, groups=[moderators_group().name])
    admin = UserFactory(is_staff=True, is_superuser=True)  # deletes others' content
    board = BoardFactory()
    day = timezone.localdate().isoformat()
    period = {"start_date": day, "end_date": day}

    # The member's open thread; the author's comment on it will be hidden, another deleted.
    open_post = forum.post_create(
        author=member, board=board, title="Jollof: Ghana or Naija?", body=f"Settle it here, {SEEK}."
    )
    forum.comment_create(post=open_post, author=other, body="Naija, no contest.")
    hidden_comment = forum.comment_create(post=open_post, author=author, body=f"{MARKER} c1 {SEEK}")
    deleted_comment = forum.comment_create(
        post=open_post, author=author, body=f"{MARKER} c2 {SEEK}"
    )
    # The author's thread, which the member comments on and likes, then hidden.
    hidden_post = forum.post_create(
        author=author, board=board, title=f"{MARKER} t1 {SEEK}", body=f"{MARKER} b1 {SEEK}"
    )
    reply = forum.comment_create(post=hidden_post, author=member, body="Replied before hiding")
    forum.comment_create(post=hidden_post, author=author, body=f"{MARKER} c3 {SEEK}")
    forum.post_like(post=hidden_post, user=member)
    forum.comment_like(comment=reply, user=author)  # tells the member, naming the thread
    # The member's own thread, commented on and liked by the author, then hidden.
    own_post = forum.post_create(
        author=member, board=board, title=f"{MARKER} t2 {SEEK}", body=f"{MARKER} b2 {SEEK}"
    )
    forum.comment_create(post=own_post, author=author, body=f"{MARKER} c4 {SEEK}")
    forum.post_like(post=own_post, user=author)
    # A thread an admin deletes, with activity that puts it in the top posts.
    deleted_post = forum.post_create(
        author=author, board=board, title=f"{MARKER} t3 {SEEK}", body=f"{MARKER} b3 {SEEK}"
    )
    forum.comment_create(post=deleted_post, author=other, body="First!")
    search.sweep()

    # Reports built while all of it was visible, then moderation, then reports built after.
    built = {
        "member": [
            build_report(member, "board_activity", board_id=board.pk, **period),
            build_report(member, "user_activity", **period),
        ],
        "author": [build_report(author, "user_activity", **period)],
        "other": [build_report(other, "board_activity", board_id=board.pk, **period)],
    }
    forum.post_set_hidden(post=hidden_post, moderator=moderator, hidden=True)
    forum.post_set_hidden(post=own_post, moderator=moderator, hidden=True)
    forum.comment_set_hidden(comment=hidden_comment, moderator=moderator, hidden=True)
    forum.post_delete(post=deleted_post, actor=admin)
    forum.comment_delete(comment=deleted_comment, actor=admin)
    built["member"] += [
        build_report(member, "board_activity", board_id=board.pk, **period),
        build_report(member, "user_activity", **period),
    ]
    built["author"].append(build_report(author, "user_activity", **period))
    run_email_jobs()  # the emails still queued go out now, checked at send time

    public = [
        "/",
        f"/b/{board.slug}/",
        f"/b/{board.slug}/?page=2",
        f"/p/{open_post.pk}/",
        f"/p/{open_post.pk}/?page=last",
        f"/p/{hidden_post.pk}/",
        f"/p/{own_post.pk}/",
        f"/p/{deleted_post.pk}/",
        "/u/member/",
        "/u/author/",
        "/u/other/",
        f"/search/?q={SEEK}",
        f"/search/?q={SEEK}&sort=newest",
        "/search/?q=hushhush*",
        f'/search/?q="t1 {SEEK}"',
        f"/search/?q={SEEK} or jollof",
        f"/search/?q=-jollof {SEEK}",
        f"/search/?q={SEEK}&board={board.slug}",
        f"/search/?q=replied&board={board.slug}",
        "/search/?q=jollof&author=author",
        f"/search/?q=first&date_from={day}",
    ]
    logged_in = [
        "/notifications/",
        "/notifications/email/",
        "/reports/",
        "/reports/new/",
        f"/p/{hidden_post.pk}/edit/",
        f"/p/{own_post.pk}/edit/",
        f"/p/{own_post.pk}/delete/",
        f"/c/{hidden_comment.pk}/edit/",
        f"/c/{hidden_comment.pk}/delete/",
    ]
    urls: dict[str, list[str]] = {"anonymous": public}
    viewers = {"anonymous": Client()}
    for name, user in (("member", member), ("author", author), ("other", other)):
        viewers[name] = Client()
        viewers[name].force_login(user)
        ids = built[name]
        urls[name] = [*public, *logged_in, "/reports/progress/?" + "&".join(f"id={i}" for i in ids)]
        for pk in ids:
            urls[name] += [
                f"/reports/{pk}/",
                f"/reports/{pk}/report.csv",
                f"/reports/{pk}/chart.svg",
            ]
    return World(urls=urls, viewers=viewers, reports=built)


def body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def test_no_page_search_or_report_shows_hidden_or_deleted_content(world):
    leaks = []
    for viewer, urls in world.urls.items():
        for url in urls:
            response = world.viewers[viewer].get(url)
            assert response.status_code in (200, 302, 404), f"{viewer} {url}"
            if MARKER in body(response):
                leaks.append(f"{viewer} {url}")
    assert leaks == []
    # ...and not because nothing was shown: what members may see is there.
    member = world.viewers["member"]
    assert "Jollof: Ghana or Naija?" in member.get(f"/search/?q={SEEK}").content.decode()
    last_board_report = world.reports["member"][2]
    assert "Jollof: Ghana or Naija?" in body(member.get(f"/reports/{last_board_report}/report.csv"))
    assert "Your report is ready" in member.get("/notifications/").content.decode()


def test_no_email_or_notification_shows_hidden_or_deleted_content(world):
    assert mail.outbox, "the planted activity sends email"
    leaks = []
    for message in mail.outbox:
        parts = [message.subject, message.body, *(html for html, _ in message.alternatives)]
        if any(MARKER in part for part in [*parts, *message.extra_headers.values()]):
            leaks.append(f"{message.to} {message.subject}")
    assert leaks == []
    for viewer in ("member", "author"):  # nor does "mark all read" count them
        client = world.viewers[viewer]
        shown = client.get("/notifications/").content.decode().count('class="unread"')
        marked = client.post("/notifications/read-all/", follow=True).content.decode()
        assert shown and f"Marked {shown} notification" in marked
