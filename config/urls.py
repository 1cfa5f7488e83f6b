from django.contrib import admin
from django.urls import include, path

from forum import views as forum_views
from jobs import views as jobs_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/signup/", forum_views.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("healthz", jobs_views.healthz, name="healthz"),
    path("readyz", jobs_views.readyz, name="readyz"),
    path("metrics", jobs_views.metrics, name="metrics"),
    path("search/", include("search.urls")),
    path("", include("forum.urls")),
]
