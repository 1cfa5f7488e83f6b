from django.contrib import admin
from django.urls import include, path

from forum import views as forum_views
from jobs import views as jobs_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/signup/", forum_views.signup, name="signup"),
    path("accounts/email/", forum_views.account_email, name="account_email"),
    # Django's auth views, plus a security alert on a new password and a queued reset email.
    path(
        "accounts/password_change/",
        forum_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password_reset/", forum_views.PasswordResetView.as_view(), name="password_reset"
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        forum_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/login/", forum_views.LoginView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("notifications/", include("notifications.urls")),
    path("reports/", include("reports.urls")),
    path("healthz", jobs_views.healthz, name="healthz"),
    path("readyz", jobs_views.readyz, name="readyz"),
    path("metrics", jobs_views.metrics, name="metrics"),
    path("search/", include("search.urls")),
    path("", include("forum.urls")),
]

handler400 = "config.views.bad_request"
handler500 = "config.views.server_error"
