from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm, UserCreationForm

from forum.models import User
from forum.validators import validate_username
from notifications import services as notifications

USERNAME_HELP = "Required. 150 characters or fewer: letters, digits and . + - _ (no @)."

# The mixin below is only ever mixed into a ModelForm of User: tell the type checker so.
if TYPE_CHECKING:
    _UserModelForm = forms.ModelForm[User]
else:
    _UserModelForm = object


class UsernameRuleMixin(_UserModelForm):
    """forum.validators.validate_username on a form where a username is typed (sign-up,
    admin's add and change forms). A change form checks it only when the name changes: a
    member who kept a name with "@" from before the rule can still be edited."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].help_text = USERNAME_HELP

    def clean_username(self) -> str:
        parent = getattr(super(), "clean_username", None)  # the creation forms' case check
        username: str = parent() if parent else self.cleaned_data["username"]
        if username and (self.instance.pk is None or "username" in self.changed_data):
            validate_username(username)
        return username


class SignUpForm(UsernameRuleMixin, UserCreationForm):
    email = forms.EmailField(help_text="We send notifications and password resets here.")
    display_name = forms.CharField(
        max_length=50, required=False, help_text="Shown on your posts. Optional, 50 characters."
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email", "display_name")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "An account with this email already exists. Log in, or reset your password."
            )
        return email


class PostForm(forms.Form):
    title = forms.CharField(
        max_length=settings.FORUM_TITLE_MAX_LENGTH,
        help_text=f"Up to {settings.FORUM_TITLE_MAX_LENGTH} characters.",
    )
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10}),
        max_length=settings.FORUM_POST_BODY_MAX_LENGTH,
        help_text=f"Markdown. Up to {settings.FORUM_POST_BODY_MAX_LENGTH:,} characters.",
    )


class CommentForm(forms.Form):
    body = forms.CharField(
        label="Your comment",
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=settings.FORUM_COMMENT_BODY_MAX_LENGTH,
        help_text=f"Markdown. Up to {settings.FORUM_COMMENT_BODY_MAX_LENGTH:,} characters.",
    )


class EmailChangeForm(forms.Form):
    email = forms.EmailField(label="New email address")
    password = forms.CharField(
        label="Current password",
        widget=forms.PasswordInput,
        help_text="We ask for it so that nobody at an unlocked computer can take your account.",
    )


class QueuedPasswordResetForm(PasswordResetForm):
    """Django's reset form, but the members are found and emailed by PasswordResetJob
    (high_priority): the request never waits on SMTP, and does the same work whoever the
    address belongs to."""

    def save(self, *_args: Any, **_options: Any) -> None:
        notifications.request_password_reset(email=self.cleaned_data["email"])
