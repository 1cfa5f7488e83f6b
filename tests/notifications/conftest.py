import pytest

from devtools.mailsink import MailSink


@pytest.fixture
def smtp_server():
    """A real SMTP server on a free loopback port, collecting what it receives."""
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def mail_worker(processes, smtp_server):
    """A real Celery worker that sends its mail to `smtp_server`."""
    return processes.worker(env={"EMAIL_URL": smtp_server.url})
