"""The operator side: admin, the jobs dashboard, /healthz /readyz /metrics, operator actions.

    selectors    every read the operator views share (dashboard, /metrics, `jobs` command)
    runs         run-time percentiles and the dashboard's charts, from runs and stats
    charts       SVG bar charts with axes, time labels and legend (drawn by chart.html)
    operations   operator actions, recorded in admin's history
    admin        the ModelAdmins (registered through jobs/admin.py)
    admin_views  the jobs dashboard inside admin
    views        health and metrics endpoints
    metrics      the Prometheus collector
    celery_cli   `celery result` that reports a failed or discarded job's end

The `jobs` management command stays at jobs/management/commands/jobs.py, where Django
finds it.
"""
