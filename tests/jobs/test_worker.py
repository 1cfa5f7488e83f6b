import pytest
from django_celery_results.models import TaskResult

from jobs.tasks import ping

pytestmark = pytest.mark.worker


def test_a_real_worker_runs_a_task_and_stores_its_result(celery_worker):
    result = ping.delay()
    assert result.get(timeout=30) == "pong"
    stored = TaskResult.objects.get(task_id=result.id)
    assert stored.status == "SUCCESS"
    assert stored.task_name == "jobs.ping"
    assert stored.worker.startswith("test-")
