"""Log in with either the username or the email address."""

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from forum import selectors
from forum.models import User


class AuthenticatedHttpRequest(HttpRequest):
    """The request a view behind @login_required (or the admin) receives: its user is a
    member, never AnonymousUser. An annotation only: Django still builds HttpRequest."""

    user: User


class UsernameOrEmailBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None or password is None:
            return None
        user = selectors.member_for_login(name=username)
        if user is None:
            User().set_password(
                password
            )  # same cost as a real check: no user enumeration by timing
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
