"""Per-worker controls, as Sidekiq Web has them: quiet (take no new job, finish the running
ones) and stop (warm shutdown), by name through Celery's remote control, from `manage.py jobs
worker quiet|stop --hostname` and the dashboard's Workers tab, for operators allowed to."""

import re
from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from config.celery import app
from jobs.models import Job, Process, State
from tests.forum.factories import UserFactory, moderators_group
from tests.jobs.helpers import wait_for, wait_for_state
from tests.jobs.sample_jobs import RecordJob, SlowJob, runs, starts

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def jobs(*args: str) -> str:
    out = StringIO()
    call_command("jobs", *args, stdout=out)
    return out.getvalue()


def row_of(worker) -> Process:
    return Process.objects.get(kind=Process.Kind.WORKER, name=worker.hostname)


def heartbeats(worker, count: int) -> None:
    """Wait for `count` more heartbeats of the worker (every 0.5 s in tests): on each one it
    also brings its consumers in line with the queue pauses."""
    seen = [row_of(worker).last_heartbeat_at]

    def beaten() -> bool:
        last = row_of(worker).last_heartbeat_at
        if last != seen[-1]:
            seen.append(last)
        return len(seen) > count

    wait_for(beaten, message=f"{count} heartbeats of {worker.hostname}")


def test_a_quiet_worker_finishes_its_running_job_takes_no_new_one_and_stays_quiet(processes):
    worker = processes.worker(concurrency=1, queues="default")
    processes.dispatcher()
    running = SlowJob.delay("before-quiet", 2).id
    wait_for(lambda: starts("before-quiet") == 1, message="the slow job to start")

    out = jobs("worker", "quiet", "--hostname", worker.hostname)

    assert f"Worker {worker.hostname} is quiet: it takes no new job" in out
    waiting = RecordJob.delay("after-quiet").id
    # Resuming a queue tells its workers to consume it again: not a quiet one.
    jobs("pause", "default")
    jobs("resume", "default")
    heartbeats(worker, 6)
    assert wait_for_state(running, State.FINISHED).worker == worker.hostname
    heartbeats(worker, 2)
    assert Job.objects.get(pk=waiting).state == State.READY and runs("after-quiet") == 0
    assert app.control.inspect(destination=[worker.hostname], timeout=2).active_queues() == {
        worker.hostname: []
    }
    assert row_of(worker).quiet_since is not None
    listed = next(line for line in jobs("processes").splitlines() if worker.hostname in line)
    assert "quiet since" in listed
    assert "(it already was)" in jobs("worker", "quiet", "--hostname", worker.hostname)

    processes.worker(concurrency=1, queues="default")  # another worker takes the job
    assert wait_for_state(waiting, State.FINISHED).worker != worker.hostname
    assert worker.poll() is None  # quiet, not stopped


def test_stop_by_name_lets_the_running_job_finish_then_the_worker_exits(processes):
    worker = processes.worker(concurrency=1, queues="default")
    running = SlowJob.delay("stopping", 1.5).id
    wait_for(lambda: starts("stopping") == 1, message="the slow job to start")

    out = jobs("worker", "stop", "--hostname", worker.hostname)

    assert out == f"Worker {worker.hostname} stopped.\n"
    assert worker.wait(timeout=30) == 0
    assert wait_for_state(running, State.FINISHED).attempts == 1
    assert not Process.objects.filter(pid=worker.pid).exists()


def test_quiet_and_stop_of_an_unknown_or_silent_worker_say_what_to_do(processes):
    with pytest.raises(CommandError, match=r"No worker named 'nobody@nowhere'\. .*jobs processes"):
        jobs("worker", "quiet", "--hostname", "nobody@nowhere")
    # Registered, but nothing answers to its name (a dead worker not yet taken for dead)
    Process.objects.create(kind="worker", name="ghost@nowhere", hostname="nowhere", pid=4242)
    with pytest.raises(CommandError, match=r"Worker ghost@nowhere did not answer within 0\.5 s"):
        jobs("worker", "quiet", "--hostname", "ghost@nowhere", "--timeout", "0.5")
    with pytest.raises(CommandError, match=r"Worker ghost@nowhere did not answer within 2 s"):
        jobs("worker", "stop", "--hostname", "ghost@nowhere")
    with pytest.raises(CommandError, match="one of the arguments --pidfile --hostname"):
        jobs("worker", "stop")


def control_urls(page: str) -> dict[str, str]:
    """The Workers tab's control forms: {button: form action}."""
    forms = re.findall(r'<form method="post"[^>]*action="([^"]+)">.*?>(\w+)</button>', page)
    return {button: action for action, button in forms}


def csrf_token(page: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]


def test_quiet_and_stop_from_the_workers_tab_need_the_operate_workers_permission(processes):
    worker = processes.worker(concurrency=1, queues="default")
    quiet = reverse("admin:jobs_dashboard_worker", args=[worker.hostname, "quiet"])
    workers_tab = reverse("admin:jobs_dashboard_workers")
    client = Client(enforce_csrf_checks=True)

    def post_from_the_login_page() -> str:
        token = csrf_token(client.get(reverse("admin:login")).content.decode())
        response = client.post(quiet, {"csrfmiddlewaretoken": token})
        assert response.status_code == 302
        return response["Location"]

    assert post_from_the_login_page().startswith("/admin/login/")  # anonymous
    client.force_login(UserFactory())  # a member: admin is not for them
    assert post_from_the_login_page().startswith("/admin/login/")
    reader = UserFactory(is_staff=True, permissions=["jobs.view_job", "jobs.view_process"])
    moderators_group()
    refused = [UserFactory(is_staff=True), UserFactory(is_staff=True, groups=["Moderators"])]
    for user in [*refused, reader]:
        client.force_login(user)
        page = client.get(reverse("admin:index")).content.decode()
        response = client.post(quiet, {"csrfmiddlewaretoken": csrf_token(page)})
        assert response.status_code == 403, user
        assert "CSRF" not in response.content.decode()  # refused for the permission
    client.force_login(reader)
    assert control_urls(client.get(workers_tab).content.decode()) == {}
    assert row_of(worker).quiet_since is None and not LogEntry.objects.exists()

    operator = UserFactory(
        is_staff=True,
        permissions=["jobs.view_job", "jobs.view_process", "jobs.operate_workers"],
    )
    client.force_login(operator)
    page = client.get(workers_tab).content.decode()
    assert control_urls(page) == {"Quiet": quiet, "Stop": quiet.replace("/quiet/", "/stop/")}
    response = client.post(quiet, {"csrfmiddlewaretoken": csrf_token(page)}, follow=True)
    assert f"Worker {worker.hostname} is quiet" in response.content.decode()
    assert 'class="jobs-quiet"' in response.content.decode()
    assert row_of(worker).quiet_since is not None
    entry = LogEntry.objects.get()
    assert (entry.user, entry.object_id) == (operator, str(row_of(worker).pk))
    assert entry.change_message == "Quieted in the jobs dashboard: it takes no new job."

    page = response.content.decode()
    assert set(control_urls(page)) == {"Stop"}  # quiet already
    stop = control_urls(page)["Stop"]
    response = client.post(stop, {"csrfmiddlewaretoken": csrf_token(page)}, follow=True)
    assert f"Worker {worker.hostname} is stopping" in response.content.decode()
    assert worker.wait(timeout=30) == 0
    assert LogEntry.objects.filter(change_message__startswith="Stopped").count() == 1
