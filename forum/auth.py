"""Log in with either the username or the email address."""

from django.contrib.auth.backends import ModelBackend
from django.db.models import Q

from forum.models import User


class UsernameOrEmailBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        login = username.strip()
        user = User.objects.filter(Q(username=login) | Q(email__iexact=login)).first()
        if user is None:
            User().set_password(
                password
            )  # same cost as a real check: no user enumeration by timing
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
