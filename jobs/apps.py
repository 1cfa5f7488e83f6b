from django.apps import AppConfig


class JobsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "jobs"

    def ready(self) -> None:
        from jobs.worker import hooks

        hooks.connect()  # the worker, pool process and beat hooks (signals, at-fork, atexit)
