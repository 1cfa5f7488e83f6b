"""Who a login name means (forum.auth), and why no new username can contain "@": a username
equal to another member's email address used to take their login by email (issue 15)."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from forum import services
from forum.models import User
from tests.conftest import PASSWORD
from tests.forum.factories import UserFactory

pytestmark = pytest.mark.django_db

# How an address can arrive: NFKC turns "＠" (full width) and "﹫" (small) into "@".
AT_SPELLINGS = {
    "plain": "ngozi@example.ng",
    "full-width at": "ngozi\uff20example.ng",
    "small commercial at": "ngozi\ufe6bexample.ng",
    "spaces around, upper case": "  NGOZI@EXAMPLE.NG \t",
    "full width throughout": "".join(chr(ord(c) + 0xFEE0) for c in "ngozi@example.ng"),
}


def logged_in_as(client, name: str, password: str = PASSWORD) -> str | None:
    client.logout()
    client.post("/accounts/login/", {"username": name, "password": password})
    member_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=member_id).username if member_id else None


@pytest.mark.parametrize("typed", AT_SPELLINGS.values(), ids=AT_SPELLINGS.keys())
def test_an_email_address_logs_in_its_owner_even_when_it_is_an_older_members_username(
    client, typed
):
    # A name with "@" from before the rule, made first, so it is the older row.
    UserFactory(username="ngozi@example.ng", email="squatter@example.com")
    UserFactory(username="ngozi", email="ngozi@example.ng")
    assert logged_in_as(client, typed) == "ngozi"


def test_a_username_with_at_kept_from_before_logs_in_while_no_address_is_the_same(client):
    UserFactory(username="tunde@home", email="tunde@example.com")
    assert logged_in_as(client, "tunde@home") == "tunde@home"
    assert logged_in_as(client, "tunde@example.com") == "tunde@home"
    assert logged_in_as(client, "tunde@home", "wrong") is None


USERNAMES_WITH_AT = {
    **AT_SPELLINGS,
    "someone's address": "victim@example.com",
    "at alone": "@",
}


@pytest.mark.parametrize("username", USERNAMES_WITH_AT.values(), ids=USERNAMES_WITH_AT.keys())
def test_sign_up_refuses_a_username_with_at_however_it_is_typed(client, username):
    UserFactory(username="victim", email="victim@example.com")
    response = client.post(
        "/accounts/signup/",
        {
            "username": username,
            "email": "new.member@example.com",
            "display_name": "",
            "password1": "a-good-long-passphrase",
            "password2": "a-good-long-passphrase",
        },
    )
    assert response.status_code == 200
    assert "A username cannot contain &quot;@&quot;" in response.content.decode()
    assert not User.objects.filter(email="new.member@example.com").exists()


def test_user_create_refuses_a_username_with_at_for_shell_callers_too(db):
    with pytest.raises(ValidationError) as refused:
        services.user_create(
            username="ada\uff20lagos", email="ada@example.com", password="a-good-long-passphrase"
        )
    assert "cannot contain" in str(refused.value.message_dict["username"])
    assert not User.objects.exists()


def test_admin_cannot_give_a_username_with_at_but_can_edit_a_member_who_kept_one(admin_client):
    add = admin_client.post(
        reverse("admin:forum_user_add"), {"username": "ada@lagos", "usable_password": "false"}
    )
    assert "A username cannot contain" in add.content.decode()
    assert not User.objects.filter(username="ada@lagos").exists()

    kept = UserFactory(username="tunde@home", email="tunde@example.com")
    change_url = reverse("admin:forum_user_change", args=[kept.pk])
    form = {
        "email": "tunde@example.com",
        "date_joined_0": "2026-01-05",
        "date_joined_1": "10:00:00",
        "is_active": "on",
        "display_name": "Tunde",
    }
    assert admin_client.post(change_url, {**form, "username": "tunde@home"}).status_code == 302
    assert User.objects.get(pk=kept.pk).display_name == "Tunde"
    renamed = admin_client.post(change_url, {**form, "username": "tunde@elsewhere"})
    assert "A username cannot contain" in renamed.content.decode()
    assert User.objects.get(pk=kept.pk).username == "tunde@home"
