from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.report_list, name="list"),
    path("new/", views.report_new, name="new"),
    path("progress/", views.report_progress, name="progress"),
    path("<int:pk>/", views.report_detail, name="detail"),
    path("<int:pk>/again/", views.report_again, name="again"),
    path("<int:pk>/report.csv", views.report_csv, name="csv"),
    path("<int:pk>/chart.svg", views.report_chart, name="chart"),
]
