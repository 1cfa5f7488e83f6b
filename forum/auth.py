"""Log in with either the username or the email address."""

from django.contrib.auth.backends import ModelBackend

from forum import selectors
from forum.models import User


class UsernameOrEmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
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
