"""Thin views: request a report, list mine, read one, download its files, poll progress.

A report that is not the viewer's is a 404 for members (not a 403: its existence is private).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from config.params import BadParameter, parse_ids
from forum.auth import AuthenticatedHttpRequest
from reports import registry, selectors, services
from reports.forms import ReportRequestForm
from reports.models import Report, Status

TABLE_ROWS_SHOWN = 50


@login_required
def report_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    everyone = request.GET.get("all") == "1" and selectors.sees_every_report(request.user)
    reports = selectors.reports_list(user=request.user, everyone=everyone)[:100]
    return render(request, "reports/list.html", {"reports": reports, "everyone": everyone})


@login_required
def report_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ReportRequestForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            report = services.request_report(
                requester=request.user,
                report_type=form.cleaned_data["report_type"],
                parameters=form.parameters(),
            )
        except registry.ParameterError as error:
            form.add_parameter_error(error)
        else:
            return redirect(report)
    return render(request, "reports/new.html", {"form": form})


@login_required
def report_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    report = _visible(request, pk)
    tables = [
        {**table, "shown": table["rows"][:TABLE_ROWS_SHOWN]}
        for table in (report.result or {}).get("tables", [])
    ]
    return render(
        request,
        "reports/detail.html",
        {"report": report, "tables": tables, "rows_shown": TABLE_ROWS_SHOWN},
    )


@require_POST
@login_required
def report_again(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Request an expired or failed report again, with the same parameters."""
    report = _visible(request, pk)
    try:
        again = services.request_report(
            requester=request.user, report_type=report.report_type, parameters=report.parameters
        )
    except ValueError as error:
        messages.error(request, str(error))
        return redirect(report)
    return redirect(again)


@login_required
def report_csv(request: AuthenticatedHttpRequest, pk: int) -> FileResponse:
    return _file(_visible(request, pk), "csv_file", content_type="text/csv", attachment=True)


@login_required
def report_chart(request: AuthenticatedHttpRequest, pk: int) -> FileResponse:
    return _file(_visible(request, pk), "chart_file", content_type="image/svg+xml")


@login_required
def report_progress(request: AuthenticatedHttpRequest) -> JsonResponse:
    try:
        ids = parse_ids(request.GET.getlist("id"), name="id")
    except BadParameter as error:
        return JsonResponse({"error": f"{error} Pass report numbers: ?id=3&id=7."}, status=400)
    return JsonResponse({"reports": selectors.reports_progress(user=request.user, ids=ids)})


def _visible(request: AuthenticatedHttpRequest, pk: int) -> Report:
    report = selectors.report_for_viewer(user=request.user, report_id=pk)
    if report is None:
        raise Http404("No such report.")
    return report


def _file(
    report: Report, field: str, *, content_type: str, attachment: bool = False
) -> FileResponse:
    name = getattr(report, field).name
    if report.status != Status.READY or not name:
        raise Http404("This report has no file: it is not ready, or it expired.")
    return FileResponse(
        default_storage.open(name),
        content_type=content_type,
        as_attachment=attachment,
        filename=name.rsplit("/", 1)[-1],
    )
