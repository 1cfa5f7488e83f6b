"""Finding a job on the dashboard: by id (whole or a prefix) and by an argument's value,
matched through `run`'s parameter names; an argument search reads a bounded window and goes
on from where it stopped."""

import html
import re
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import Job, State
from tests.forum.factories import UserFactory
from tests.jobs.sample_jobs import GatedJob, RecordJob, UserNameJob

pytestmark = pytest.mark.django_db
URL = reverse("admin:jobs_dashboard_find")


@pytest.fixture
def staff_client(client, admin):
    client.force_login(admin)
    return client


def found_ids(response) -> set[str]:
    return set(re.findall(r'data-job="([0-9a-f-]{36})"', response.content.decode()))


def further_link(response) -> str | None:
    link = re.search(r'<a href="(\?[^"]+)">Search further</a>', response.content.decode())
    return html.unescape(link[1]) if link else None


def searched(response) -> str:
    """What the page says it searched, on one line."""
    text = re.search(r'<p id="searched">(.*?)</p>', response.content.decode(), re.DOTALL)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", text[1])).split()) if text else ""


def with_id(job_class, job_id: str, *args) -> str:
    return str(job_class.apply_async(list(args), task_id=job_id).id)


def test_a_whole_id_opens_the_job_in_any_case_with_or_without_dashes(staff_client):
    job_id = str(RecordJob.delay("whole").id)
    for typed in (job_id, job_id.upper(), f"  {job_id.replace('-', '')} "):
        response = staff_client.get(URL, {"q": typed})
        assert response.status_code == 302
        assert response["Location"] == reverse("admin:jobs_dashboard_job", args=[job_id])


def test_a_prefix_lists_the_jobs_whose_id_starts_with_it(staff_client):
    a = with_id(RecordJob, "abcd1234-0000-4000-8000-000000000001", "a")
    b = with_id(RecordJob, "abcd5678-0000-4000-8000-000000000002", "b")
    c = with_id(RecordJob, "abce0000-0000-4000-8000-000000000003", "c")
    response = staff_client.get(URL, {"q": "ABCD"})
    assert response.status_code == 200
    assert found_ids(response) == {a, b}
    assert found_ids(staff_client.get(URL, {"q": "abcd-12"})) == {a}
    assert found_ids(staff_client.get(URL, {"q": "abce0"})) == {c}
    assert found_ids(staff_client.get(URL, {"q": "abcd", "state": "failed"})) == set()


def test_an_unknown_whole_id_says_none_matches(staff_client):
    response = staff_client.get(URL, {"q": str(uuid.uuid4())})
    assert response.status_code == 200
    assert "No job matches" in response.content.decode()


def test_an_argument_is_found_by_its_name_whether_passed_by_position_or_keyword(staff_client):
    positional = str(UserNameJob.delay(42).id)
    keyword = str(UserNameJob.delay(user_id=42).id)
    as_string = str(UserNameJob.delay("42").id)
    UserNameJob.delay(420)
    UserNameJob.delay(4)
    GatedJob.delay("size-is-not-a-user", 42)  # 42 at another parameter
    RecordJob.delay("42")  # "42" in a class with no user_id
    response = staff_client.get(URL, {"q": "user_id=42"})
    assert response.status_code == 200
    assert found_ids(response) == {positional, keyword, as_string}
    assert found_ids(staff_client.get(URL, {"q": ' user_id = "42" '})) == {
        positional,
        keyword,
        as_string,
    }
    assert len(found_ids(staff_client.get(URL, {"q": "user_id=420"}))) == 1


def test_an_argument_at_a_later_position_and_json_values(staff_client):
    sized = str(GatedJob.delay("g", 7).id)
    GatedJob.delay("h", 8)
    with_payload = str(RecordJob.delay("p", {"flag": True}).id)
    without = str(RecordJob.delay("q").id)
    assert found_ids(staff_client.get(URL, {"q": "size=7"})) == {sized}
    assert found_ids(staff_client.get(URL, {"q": 'key="g"'})) == {sized}
    assert found_ids(staff_client.get(URL, {"q": 'payload={"flag": true}'})) == {with_payload}
    quoted = str(RecordJob.delay("it's 50% done").id)
    assert found_ids(staff_client.get(URL, {"q": 'key="it\'s 50% done"'})) == {quoted}
    # A default the caller did not pass is not stored: null matches only a null passed.
    assert without not in found_ids(staff_client.get(URL, {"q": "payload=null"}))


def test_arguments_with_secret_looking_keys_are_masked_in_the_results(staff_client):
    RecordJob.delay("secret", {"password": "hunter2", "name": "Ada"})
    page = staff_client.get(URL, {"q": 'key="secret"'}).content.decode()
    assert "hunter2" not in page and "Ada" in page and "••••••" in page


def test_an_unknown_parameter_name_lists_the_known_ones(staff_client):
    response = staff_client.get(URL, {"q": "nobody=1"})
    assert response.status_code == 400
    text = html.unescape(response.content.decode())
    assert "No job's run takes a parameter named 'nobody'" in text
    assert "user_id" in text and "payload" in text


def _ready_at(job_id, minutes: int) -> None:
    Job.objects.filter(pk=job_id).update(scheduled_at=timezone.now() + timedelta(minutes=minutes))


def test_a_search_reads_a_bounded_window_and_searches_further_from_where_it_stopped(
    staff_client, settings
):
    settings.JOBS_FIND_WINDOW = 3
    ids = [str(UserNameJob.delay(7 if i in (1, 4) else 100 + i).id) for i in range(6)]
    for minutes, job_id in enumerate(ids):
        _ready_at(job_id, minutes)  # the ready tab's order: ids[0] first
    first = staff_client.get(URL, {"q": "user_id=7", "state": "ready"})
    assert searched(first) == "Searched the first 3 ready jobs (of more): 1 match. Search further"
    assert found_ids(first) == {ids[1]}
    second = staff_client.get(URL + further_link(first))
    assert found_ids(second) == {ids[4]}
    assert searched(second) == (
        "Searched the remaining 3 ready jobs: 1 match. That is every job in this state."
    )
    assert further_link(second) is None


def test_any_state_walks_the_states_in_the_tabs_order_with_one_window(staff_client, settings):
    settings.JOBS_FIND_WINDOW = 2
    failed = str(UserNameJob.delay(9).id)
    Job.objects.filter(pk=failed).update(state=State.FAILED, finished_at=timezone.now())
    ready = [str(UserNameJob.delay(9).id) for _ in range(2)]
    for minutes, job_id in enumerate(ready):
        _ready_at(job_id, minutes)
    first = staff_client.get(URL, {"q": "user_id=9"})
    assert searched(first).startswith(
        "Searched all 1 failed and the first 1 ready jobs (of more): 2 matches."
    )
    assert found_ids(first) == {failed, ready[0]}
    second = staff_client.get(URL + further_link(first))
    assert found_ids(second) == {ready[1]}


def test_many_matches_stop_at_a_page_and_search_further_shows_the_rest(staff_client):
    from jobs.ops.find import RESULTS

    ids = [str(UserNameJob.delay(5).id) for _ in range(RESULTS + 2)]
    first = staff_client.get(URL, {"q": "user_id=5", "state": "ready"})
    shown = found_ids(first)
    assert len(shown) == RESULTS and "shown, and more in them" in first.content.decode()
    rest = found_ids(staff_client.get(URL + further_link(first)))
    assert rest == set(ids) - shown


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("x" * 201, "keep it under 200"),
        ("=42", "Name the argument before"),
        ("user_id=", "Give a value after"),
        ("user_id=alice", "is no JSON value"),
        ("user_id=NaN", "is no JSON value"),
        ("user_id=1e999", "too large a number"),
        ("user_id=[[[[", "is no JSON value"),
        ("ab\x00cd", "control character"),
        ("٤٢٤٢", "is no job id"),
        ("ａｂｃｄ", "is no job id"),
        ("abc", "at least 4 hex digits"),
        ("hello world", "is no job id"),
    ],
)
def test_bad_input_gets_a_message_that_says_what_to_do(staff_client, query, message):
    response = staff_client.get(URL, {"q": query})
    assert response.status_code == 400
    assert message in html.unescape(response.content.decode())


def test_an_unknown_state_or_a_damaged_link_is_a_message_not_an_error(staff_client):
    response = staff_client.get(URL, {"q": "user_id=1", "state": "lost"})
    assert response.status_code == 400 and "Unknown state" in response.content.decode()
    for after in ("junk", "ready_2026-13-01_x", "ready__" + str(uuid.uuid4())):
        response = staff_client.get(URL, {"q": "user_id=1", "after": after})
        assert response.status_code == 400, after
        assert "link is damaged" in response.content.decode()


def test_an_empty_search_shows_how_to_search(staff_client):
    response = staff_client.get(URL, {"q": "  "})
    assert response.status_code == 200 and "user_id=42" in response.content.decode()


def test_the_search_form_is_on_every_tab_and_carries_the_tab_state(staff_client):
    page = staff_client.get(reverse("admin:jobs_dashboard_list", args=["failed"])).content
    assert b'action="' + URL.encode() + b'"' in page
    assert b'<option value="failed" selected>' in page
    overview = staff_client.get(reverse("admin:jobs_dashboard")).content
    assert b'aria-label="Find a job"' in overview and b" selected>" not in overview


@pytest.mark.parametrize(
    ("role", "status"), [("anonymous", 302), ("member", 302), ("moderator", 403), ("admin", 200)]
)
def test_finding_needs_the_power_to_view_jobs(client, role, status):
    if role == "member":
        client.force_login(UserFactory())
    elif role == "moderator":
        client.force_login(UserFactory(is_staff=True))
    elif role == "admin":
        client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get(URL, {"q": "user_id=1"})
    assert response.status_code == status
    if status == 302:
        assert "/admin/login/" in response["Location"]
