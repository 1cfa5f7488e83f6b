"""The jobs dashboard inside Django admin: thin views over jobs.ops.selectors.

`is_staff` only lets a user into admin. Every view and action here asks the model admin of
what it shows or changes, as admin's own pages do (see POWERS), and the templates show only
the buttons the user may use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_POST
from django_celery_beat.models import PeriodicTask
from django_celery_results.models import TaskResult

from config.params import BadParameter, page_number
from jobs.models import Job, Process, QueuePause
from jobs.ops import find, operations, runs
from jobs.ops import selectors as dashboard
from jobs.ops.selectors import JobFilter

if TYPE_CHECKING:
    from django.contrib.auth.models import _User

View = Callable[..., HttpResponse]


class StaffRequest(HttpRequest):
    """The request a view behind admin_site.admin_view receives: its user is signed in (staff),
    never AnonymousUser. An annotation only: Django still builds HttpRequest."""

    # django-stubs' name for AUTH_USER_MODEL (its plugin resolves it), not jobs' own import.
    user: _User


# What a user may do on the dashboard: (model, action) whose admin check grants it.
POWERS = {
    "view": (Job, "view"),  # every tab and job page
    "operate": (Job, "change"),  # retry, discard, run now
    "pause": (QueuePause, "add"),
    "resume": (QueuePause, "delete"),
    "workers": (Process, "view"),
    "recurring": (PeriodicTask, "view"),
    "run_periodic": (PeriodicTask, "change"),
    "results": (TaskResult, "view"),  # a job's task result
    "operate_workers": (Process, "operate_workers"),  # quiet, stop
}
# Permissions of our own (a model's Meta.permissions), which no model admin method asks.
OWN_PERMISSIONS = {"operate_workers"}


class JobsDashboard:
    """Mounted by JobAdmin.get_urls; every view goes through admin_site.admin_view."""

    def __init__(self, model_admin: admin.ModelAdmin[Job]) -> None:
        self.model_admin = model_admin

    def permissions(self, request: HttpRequest) -> dict[str, bool]:
        """Every power of POWERS for this user, for the templates' buttons and tabs."""
        return {power: self._allowed(request, power) for power in POWERS}

    def require(self, request: HttpRequest, *powers: str, obj: Model | None = None) -> None:
        for power in powers:
            if not self._allowed(request, power, obj):
                model, action = POWERS[power]
                opts = model._meta
                codename = (
                    action if action in OWN_PERMISSIONS else get_permission_codename(action, opts)
                )
                raise PermissionDenied(
                    f"This needs the {opts.app_label}.{codename} "
                    "permission: ask an admin to grant it (or to add you to a group with it)."
                )

    def _allowed(self, request: HttpRequest, power: str, obj: Model | None = None) -> bool:
        model, action = POWERS[power]
        if action in OWN_PERMISSIONS:
            return request.user.has_perm(f"{model._meta.app_label}.{action}")
        check = getattr(
            self.model_admin.admin_site.get_model_admin(model), f"has_{action}_permission"
        )
        allowed: bool = check(request) if action == "add" else check(request, obj)
        return allowed

    def context(self, request: HttpRequest, title: str, tab: str, **extra: Any) -> dict[str, Any]:
        if "counts" in extra:  # the overview has them already
            counts = dict(extra["counts"])
        else:
            counts = {
                state: dashboard.count_label(n)
                for state, n in Job.objects.capped_counts_by_state(cap=dashboard.COUNT_CAP).items()
            }
        return {
            **self.model_admin.admin_site.each_context(request),
            "title": title,
            "tab": tab,
            "tabs": [(state, counts.get(state, "0")) for state in dashboard.LIST_STATES],
            "opts": self.model_admin.model._meta,
            "can": self.permissions(request),
            # base.html's live refresh fetches the page it shows: that copy must leave the
            # session's messages (an action's "Re-enqueued 3 jobs.") to the page they are for.
            "live_refresh": request.headers.get("X-Jobs-Live") == "1",
            **extra,
        }

    def overview(self, request: HttpRequest) -> HttpResponse:
        self.require(request, "view")
        window = _window(request, default="1h")
        data = dashboard.overview()
        for queue in data["queues"]:
            queue["latency_text"] = dashboard.latency_text(queue["latency"])
        context = self.context(
            request,
            "Jobs",
            "overview",
            **data,
            chart=runs.overview_chart(),
            run_times=runs.run_times(window=window),
            window=window,
            windows=list(dashboard.WINDOWS),
        )
        return TemplateResponse(request, "admin/jobs/dashboard/overview.html", context)

    def queue_stats(self, request: HttpRequest, queue: str) -> HttpResponse:
        self.require(request, "view")
        if queue not in settings.JOB_QUEUES:  # a 404 that names the queues there are
            error = f"No queue {queue!r}: the queues are {', '.join(settings.JOB_QUEUES)}."
            context = self.context(
                request, "Unknown queue", "queue", error=error, queues=settings.JOB_QUEUES
            )
            template = "admin/jobs/dashboard/queue_stats.html"
            return TemplateResponse(request, template, context, status=404)
        window = _window(request, default="1h")
        context = self.context(
            request,
            f"Queue {queue}",
            "queue",
            stats=runs.queue_stats(queue=queue, window=window),
            queue=queue,
            window=window,
            windows=list(dashboard.WINDOWS),
        )
        return TemplateResponse(request, "admin/jobs/dashboard/queue_stats.html", context)

    def state_list(self, request: HttpRequest, state: str) -> HttpResponse:
        self.require(request, "view")
        try:
            job_filter = JobFilter.from_query(state, request.GET)
        except ValueError as error:
            raise Http404(str(error)) from None
        number = _page_number(request)
        jobs, more = dashboard.page(job_filter, number=number)
        query = job_filter.as_query()
        context = self.context(
            request,
            f"{state.capitalize()} jobs",
            state,
            jobs=jobs,
            filter=job_filter,
            page=number,
            more=more,
            query=urlencode(query),
            windows=list(dashboard.WINDOWS),
            class_names=dashboard.class_names(),
            queues=settings.JOB_QUEUES,
        )
        return TemplateResponse(request, "admin/jobs/dashboard/list.html", context)

    def job_detail(self, request: HttpRequest, job_id: str) -> HttpResponse:
        self.require(request, "view")
        job = dashboard.get_job(job_id)
        if job is None:
            raise Http404("No such job: it may have been pruned.")
        result = None
        if self._allowed(request, "results"):
            result = TaskResult.objects.filter(task_id=str(job.id)).first()
        context = self.context(
            request,
            f"{job.class_name} {job.id}",
            job.state,
            job=job,
            attempts=dashboard.job_runs(job),
            result=result,
            args=dashboard.masked_json(job.args),
            kwargs=dashboard.masked_json(job.kwargs),
            flower_task_url=f"{settings.FLOWER_URL}/task/{job.id}" if settings.FLOWER_URL else "",
            duration=(job.finished_at - job.claimed_at).total_seconds()
            if job.finished_at and job.claimed_at
            else None,
        )
        return TemplateResponse(request, "admin/jobs/dashboard/job.html", context)

    def find(self, request: HttpRequest) -> HttpResponse:
        """Find a job by id (prefix) or by an argument's value (jobs.ops.find); a whole id of
        an existing job opens its page."""
        self.require(request, "view")
        text = request.GET.get("q", "")
        extra: dict[str, Any] = {"find_q": text[: find.MAX_QUERY], "find_help": find.HELP}
        try:
            state = find.parse_state(request.GET.get("state", ""))
            extra["find_state"] = state
            query = find.parse_query(text)
            if isinstance(query, find.IdQuery):
                jobs, more = find.jobs_by_id(query, state=state)
                if query.whole and len(jobs) == 1:
                    return redirect(_url("job", job_id=jobs[0].pk))
                extra.update(by="id", jobs=jobs, more_matches=more, prefix=query.prefix)
            elif isinstance(query, find.ArgumentQuery):
                after = request.GET.get("after", "")
                found = find.jobs_by_argument(
                    query,
                    state=state,
                    window=settings.JOBS_FIND_WINDOW,
                    after=find.Cursor.from_token(after) if after else None,
                )
                further = ""
                if found.further:
                    further = urlencode({"q": text, "state": state, "after": found.further.token()})
                extra.update(
                    by="argument",
                    jobs=found.jobs,
                    found=found,
                    more_matches=found.more_matches,
                    further=further,
                )
        except BadParameter as error:
            context = self.context(request, "Find a job", "find", find_error=str(error), **extra)
            return TemplateResponse(request, "admin/jobs/dashboard/find.html", context, status=400)
        context = self.context(request, "Find a job", "find", **extra)
        return TemplateResponse(request, "admin/jobs/dashboard/find.html", context)

    def triage(self, request: HttpRequest) -> HttpResponse:
        self.require(request, "view")
        window = request.GET.get("window", "24h")
        if window not in dashboard.WINDOWS:
            window = "24h"
        context = self.context(
            request,
            "Failures by error",
            "triage",
            groups=dashboard.triage(window=window),
            window=window,
            windows=list(dashboard.WINDOWS),
        )
        return TemplateResponse(request, "admin/jobs/dashboard/triage.html", context)

    def workers(self, request: HttpRequest) -> HttpResponse:
        self.require(request, "view", "workers")
        context = self.context(request, "Workers", "workers", rows=dashboard.workers())
        return TemplateResponse(request, "admin/jobs/dashboard/workers.html", context)

    def recurring(self, request: HttpRequest) -> HttpResponse:
        self.require(request, "view", "recurring")
        tasks = PeriodicTask.objects.select_related("interval", "crontab", "clocked").order_by(
            "name"
        )
        context = self.context(request, "Recurring jobs", "recurring", tasks=tasks)
        return TemplateResponse(request, "admin/jobs/dashboard/recurring.html", context)

    # --- actions (POST) ---------------------------------------------------------------------
    def job_action(self, request: StaffRequest, job_id: str, action: str) -> HttpResponse:
        job = dashboard.get_job(job_id)
        if job is None:
            raise Http404("No such job.")
        self.require(request, "operate", obj=job)
        jobs = Job.objects.filter(pk=job.pk)
        done = self._apply(request, jobs, action, how="in the jobs dashboard")
        if not done:
            messages.warning(
                request, f"Nothing to {action.replace('_', ' ')}: the job is {job.state}."
            )
        # Not redirect(): it reads a `next` without a slash or dot as a URL name to reverse.
        return HttpResponseRedirect(_next_on_this_site(request) or _url("job", job_id=job.pk))

    def bulk_action(self, request: StaffRequest, state: str, action: str) -> HttpResponse:
        self.require(request, "operate")
        try:
            job_filter = JobFilter.from_query(state, request.POST)
        except ValueError as error:
            raise Http404(str(error)) from None
        query = urlencode(job_filter.as_query())
        matching = f"all {state} jobs" + (f" matching {query}" if query else "")
        how = f"in the jobs dashboard ({matching})"
        self._apply(request, job_filter.queryset(), action, how=how)
        url = _url("list", state=state)
        return redirect(f"{url}?{query}" if query else url)

    def queue_action(self, request: StaffRequest, queue: str, action: str) -> HttpResponse:
        if action not in ("pause", "resume"):
            raise Http404(f"Unknown action {action!r}.")
        self.require(request, action)
        act = operations.pause_queue if action == "pause" else operations.resume_queue
        try:
            act(queue=queue, user=request.user, how="in the jobs dashboard")
        except ValueError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"Queue {queue} {action}d.")
        return redirect(_url("overview"))

    def worker_action(self, request: StaffRequest, hostname: str, action: str) -> HttpResponse:
        if action not in ("quiet", "stop"):
            raise Http404(f"Unknown action {action!r}.")
        self.require(request, "operate_workers")
        how = "in the jobs dashboard"
        try:
            if action == "quiet":
                changed = operations.quiet_worker(hostname=hostname, user=request.user, how=how)
                note = "" if changed else " (it already was)"
                messages.success(
                    request,
                    f"Worker {hostname} is quiet{note}: it takes no new job, its running jobs "
                    "finish.",
                )
            else:
                operations.stop_worker(hostname=hostname, user=request.user, how=how)
                messages.success(
                    request, f"Worker {hostname} is stopping: its running jobs finish first."
                )
        except ValueError as error:
            messages.error(request, f"Could not {action} it: {error}")
        return redirect(_url("workers"))

    def periodic_run_now(self, request: StaffRequest, task_id: int) -> HttpResponse:
        task = PeriodicTask.objects.filter(pk=task_id).first()
        self.require(request, "run_periodic", obj=task)
        if task is None:
            messages.error(request, "Could not run it: that periodic task no longer exists.")
            return redirect(_url("recurring"))
        try:
            sent = operations.run_periodic_task(
                task=task, user=request.user, how="in the jobs dashboard"
            )
        except ValueError as error:
            messages.error(request, f"Could not run it: {error}")
        else:
            messages.success(request, self._sent_message(request, task, sent))
        return redirect(_url("recurring"))

    def _sent_message(
        self, request: HttpRequest, task: PeriodicTask, sent: operations.SentTask
    ) -> str:
        """Links only to pages that exist: a job page for a ledger job; for a task of Celery's
        own, its task result (once a worker ran it) and Flower."""
        if sent.ledger:
            return format_html(
                'Enqueued now as job <a href="{}">{}</a>.', _url("job", job_id=sent.id), sent.id
            )
        links = []
        if self._allowed(request, "results"):
            results = reverse("admin:django_celery_results_taskresult_changelist")
            links.append(
                format_html(
                    '<a href="{}?{}">its task result</a>', results, urlencode({"task_id": sent.id})
                )
            )
        if settings.FLOWER_URL:
            links.append(
                format_html(
                    '<a href="{}/task/{}" rel="noopener noreferrer">Flower</a>',
                    settings.FLOWER_URL,
                    sent.id,
                )
            )
        see = format_html(" See {}.", format_html_join(" or ", "{}", ((link,) for link in links)))
        return format_html(
            "Sent as Celery task {} (not a ledger job: {} is a plain Celery task, with no job "
            "page).{}",
            sent.id,
            task.task,
            see if links else "",
        )

    def _apply(self, request: StaffRequest, jobs: QuerySet[Job], action: str, *, how: str) -> int:
        actions = {
            "retry": (operations.retry, "Re-enqueued"),
            "discard": (operations.discard, "Discarded"),
            "run_now": (operations.run_now, "Made due now"),
        }
        if action not in actions:
            raise Http404(f"Unknown action {action!r}.")
        act, verb = actions[action]
        count = act(jobs=jobs, user=request.user, how=how)
        if count:
            messages.success(request, f"{verb} {count:,} job{'s' if count != 1 else ''}.")
        return count

    def urls(self, wrap: Callable[[View], View]) -> list[URLPattern]:
        from django.urls import path

        post = require_POST
        return [
            path("dashboard/", wrap(self.overview), name="jobs_dashboard"),
            path("dashboard/triage/", wrap(self.triage), name="jobs_dashboard_triage"),
            path("dashboard/find/", wrap(self.find), name="jobs_dashboard_find"),
            path("dashboard/workers/", wrap(self.workers), name="jobs_dashboard_workers"),
            path(
                "dashboard/workers/<str:hostname>/<str:action>/",
                wrap(post(self.worker_action)),
                name="jobs_dashboard_worker",
            ),
            path("dashboard/recurring/", wrap(self.recurring), name="jobs_dashboard_recurring"),
            path(
                "dashboard/recurring/<int:task_id>/run/",
                wrap(post(self.periodic_run_now)),
                name="jobs_dashboard_periodic_run",
            ),
            path(
                "dashboard/queues/<str:queue>/",
                wrap(self.queue_stats),
                name="jobs_dashboard_queue_stats",
            ),
            path(
                "dashboard/queue/<str:queue>/<str:action>/",
                wrap(post(self.queue_action)),
                name="jobs_dashboard_queue",
            ),
            path("dashboard/job/<str:job_id>/", wrap(self.job_detail), name="jobs_dashboard_job"),
            path(
                "dashboard/job/<str:job_id>/<str:action>/",
                wrap(post(self.job_action)),
                name="jobs_dashboard_job_action",
            ),
            path("dashboard/<str:state>/", wrap(self.state_list), name="jobs_dashboard_list"),
            path(
                "dashboard/<str:state>/all/<str:action>/",
                wrap(post(self.bulk_action)),
                name="jobs_dashboard_bulk",
            ),
        ]


def _url(name: str, **kwargs: object) -> str:
    names = {
        "overview": "jobs_dashboard",
        "list": "jobs_dashboard_list",
        "job": "jobs_dashboard_job",
        "recurring": "jobs_dashboard_recurring",
        "workers": "jobs_dashboard_workers",
    }
    return reverse(f"admin:{names[name]}", kwargs=kwargs)


def _window(request: HttpRequest, *, default: str) -> str:
    """The ?window= of a page: one of selectors.WINDOWS; anything else is the default."""
    window = request.GET.get("window", default)
    return window if window in dashboard.WINDOWS else default


def _page_number(request: HttpRequest) -> int:
    return page_number(request.GET.get("page"))


def _next_on_this_site(request: HttpRequest) -> str:
    """The form's `next` page, only if it is on this site: no open redirect."""
    target = request.POST.get("next", "")
    on_site = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if on_site else ""
