"""Thin views: the bell's list and read marks, email preferences, one-click unsubscribe,
and a staff page of sent mail (how `make dev` shows emails without an SMTP server)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required, permission_required
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.params import page_number
from forum.auth import AuthenticatedHttpRequest
from forum.models import User
from notifications import selectors, services
from notifications.forms import EmailPreferencesForm
from notifications.models import DeliveryStatus, EmailDelivery, Notification
from notifications.tokens import read_unsubscribe_token
from notifications.types import OPTIONAL_TYPES, NotificationType


@login_required
def notification_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    page = selectors.notifications_page(
        user=request.user, page=page_number(request.GET.get("page"))
    )
    return render(request, "notifications/list.html", {"page": page})


@require_POST
@login_required
def notification_read(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Mark read and go to what it is about."""
    notification = get_object_or_404(
        Notification.objects.select_related("post"), pk=pk, recipient=request.user
    )
    services.notification_mark_read(user=request.user, notification_id=notification.pk)
    return redirect(notification.get_absolute_url() or "notifications:list")


@require_POST
@login_required
def notifications_read_all(request: AuthenticatedHttpRequest) -> HttpResponse:
    count = services.notifications_mark_all_read(user=request.user)
    messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} read.")
    return redirect("notifications:list")


@login_required
def preferences(request: AuthenticatedHttpRequest) -> HttpResponse:
    initial = selectors.email_preferences(user=request.user)
    form = EmailPreferencesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.email_preferences_set(user=request.user, enabled=form.cleaned_data)
        messages.success(request, "Email preferences saved.")
        return redirect("notifications:preferences")
    return render(request, "notifications/preferences.html", {"form": form})


@csrf_exempt  # RFC 8058: mail clients POST here without a session or a CSRF token
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks to confirm (link scanners must not unsubscribe anyone); POST unsubscribes."""
    try:
        user_id, notification_type = read_unsubscribe_token(token)
    except signing.BadSignature:
        return _bad_unsubscribe_link(request)
    if notification_type not in OPTIONAL_TYPES:  # only our own code signs these
        return _bad_unsubscribe_link(request)
    label = NotificationType(notification_type).label
    if request.method == "POST":
        try:
            services.email_unsubscribe(token=token)
        except User.DoesNotExist:  # nothing to unsubscribe: the page says so
            pass
        else:
            return render(request, "notifications/unsubscribed.html", {"label": label})
    context = {"label": label, "user_exists": User.objects.filter(pk=user_id).exists()}
    return render(request, "notifications/unsubscribe.html", context)


# As in admin: staff get in, and the model's view permission shows its rows. Plain staff
# (moderators) get a 403: the log is every member's mail.
@staff_member_required
@permission_required("notifications.view_emaildelivery", raise_exception=True)
def delivery_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    page = selectors.deliveries_page(page=page_number(request.GET.get("page")), status=status)
    context = {"page": page, "status": status, "statuses": DeliveryStatus.values}
    return render(request, "notifications/deliveries.html", context)


@staff_member_required
@permission_required("notifications.view_emaildelivery", raise_exception=True)
def delivery_detail(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = get_object_or_404(EmailDelivery, pk=pk)
    return render(request, "notifications/delivery.html", {"delivery": delivery})


def _bad_unsubscribe_link(request: HttpRequest) -> HttpResponse:
    return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=400)
