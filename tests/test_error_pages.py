import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.urls import reverse

from forum import selectors
from forum.models import Comment
from tests.forum.factories import PostFactory

pytestmark = pytest.mark.django_db


def front_page_when(monkeypatch, error: Exception):
    """The front page a member gets when reading the boards raises `error`."""

    def fail():
        raise error

    monkeypatch.setattr(selectors, "section_list", fail)
    return Client(raise_request_exception=False).get("/")


def test_database_outage_is_a_503_page_asking_to_retry(monkeypatch):
    error = OperationalError("connection to server on socket failed: No such file")
    response = front_page_when(monkeypatch, error)
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    html = response.content.decode()
    assert "try again in 10 seconds" in html
    assert "OperationalError" not in html and "socket" not in html


def test_other_errors_stay_a_500(monkeypatch):
    response = front_page_when(monkeypatch, ValueError("a bug"))
    assert response.status_code == 500
    assert "try again" not in response.content.decode()


# --- A write PostgreSQL aborts for a lock conflict --------------------------------------------


@pytest.fixture
def comment_inserts_abort(transactional_db):
    """Make PostgreSQL abort the next `times` comment inserts with `sqlstate`, as it aborts
    the loser of a deadlock; the returned function reads how many inserts were tried. A
    trigger: the error comes from the database through the driver, as a real one does."""

    def install(sqlstate: str, times: int):
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                CREATE SEQUENCE test_comment_tries;
                CREATE FUNCTION test_abort_comment() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF nextval('test_comment_tries') <= {times} THEN
                        RAISE EXCEPTION 'aborted by a test trigger' USING ERRCODE = '{sqlstate}';
                    END IF;
                    RETURN NEW;
                END $$;
                CREATE TRIGGER test_abort_comment BEFORE INSERT ON forum_comment
                    FOR EACH ROW EXECUTE FUNCTION test_abort_comment();
                """
            )

        def tries() -> int:
            with connection.cursor() as cursor:  # nextval is not rolled back with its insert
                cursor.execute(
                    "SELECT CASE WHEN is_called THEN last_value END FROM test_comment_tries"
                )
                return cursor.fetchone()[0] or 0

        return tries

    yield install
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TRIGGER test_abort_comment ON forum_comment;"
            "DROP FUNCTION test_abort_comment(); DROP SEQUENCE test_comment_tries;"
        )


def comment_on_a_post(user):
    post = PostFactory()
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client.post(reverse("forum:comment_create", args=[post.pk]), {"body": "Na me first"})


@pytest.mark.django_db(transaction=True)  # a retry is of a whole transaction, not a savepoint
@pytest.mark.parametrize("sqlstate", ["40P01", "40001"], ids=["deadlock", "serialization"])
def test_a_comment_aborted_once_for_a_lock_conflict_is_saved_by_the_retry(
    comment_inserts_abort, user, sqlstate
):
    tries = comment_inserts_abort(sqlstate, times=1)
    response = comment_on_a_post(user)
    assert response.status_code == 302
    assert Comment.objects.get().body == "Na me first"
    assert tries() == 2


@pytest.mark.django_db(transaction=True)  # a retry is of a whole transaction, not a savepoint
@pytest.mark.parametrize("sqlstate", ["40P01", "40001"], ids=["deadlock", "serialization"])
def test_a_lock_conflict_that_survives_the_retry_asks_to_send_again_and_is_no_outage(
    comment_inserts_abort, user, sqlstate
):
    tries = comment_inserts_abort(sqlstate, times=2)
    response = comment_on_a_post(user)
    html = response.content.decode()
    assert response.status_code == 500 and "Retry-After" not in response
    assert "please try again" in html and "send it again" in html
    assert "database" not in html and "back in a moment" not in html
    assert "OperationalError" not in html and "test trigger" not in html
    assert not Comment.objects.exists()
    assert tries() == 2  # tried once more, not forever
