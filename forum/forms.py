from django import forms
from django.conf import settings
from django.contrib.auth.forms import UserCreationForm

from forum.models import User


class SignUpForm(UserCreationForm):
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
