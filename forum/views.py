"""Thin views: validate a form, call one service or selector, respond."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm, PasswordResetForm, SetPasswordForm
from django.core.exceptions import ValidationError
from django.forms import BaseForm
from django.forms.utils import ErrorDict
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from config.params import page_number
from forum import ratelimit, selectors, services
from forum.auth import AuthenticatedHttpRequest
from forum.forms import CommentForm, EmailChangeForm, PostForm, QueuedPasswordResetForm, SignUpForm
from forum.models import Board, Comment, User
from forum.permissions import can_delete
from notifications import services as notifications

_P = ParamSpec("_P")
_T = TypeVar("_T")


def index(request: HttpRequest) -> HttpResponse:
    return render(request, "forum/index.html", {"sections": selectors.section_list()})


def board_detail(request: HttpRequest, slug: str) -> HttpResponse:
    board = get_object_or_404(Board.objects.select_related("section"), slug=slug)
    page = selectors.board_posts_page(
        board=board, viewer=request.user, page=page_number(request.GET.get("page"))
    )
    return render(request, "forum/board.html", {"board": board, "page": page})


def post_detail(request: HttpRequest, pk: int) -> HttpResponse:
    post = selectors.post_for_viewer(post_id=pk, viewer=request.user)
    page = selectors.post_comments_page(
        post=post, viewer=request.user, page=page_number(request.GET.get("page"))
    )
    context = {
        "post": post,
        "page": page,
        "form": CommentForm(),
        "post_liked": post.pk in selectors.liked_post_ids(user=request.user, post_ids=[post.pk]),
        "liked_comment_ids": selectors.liked_comment_ids(
            user=request.user, comment_ids=[c.pk for c in page]
        ),
    }
    return render(request, "forum/post.html", context)


@login_required
def post_create(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    board = get_object_or_404(Board, slug=slug)
    form = PostForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if limited := ratelimit.exceeded(request, "post", member=request.user):
            form.add_error(None, limited)
            return render(
                request, "forum/post_form.html", {"form": form, "board": board}, status=429
            )
        post = _call(
            form, services.post_create, author=request.user, board=board, **form.cleaned_data
        )
        if post:
            return redirect(post)
    return render(request, "forum/post_form.html", {"form": form, "board": board})


@login_required
def post_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    post = selectors.post_for_viewer(post_id=pk, viewer=request.user)
    if post.author_id != request.user.pk:
        return HttpResponse("Only the author can edit this post.", status=403)
    form = PostForm(request.POST or None, initial={"title": post.title, "body": post.body})
    if (
        request.method == "POST"
        and form.is_valid()
        and _call(form, services.post_update, post=post, editor=request.user, **form.cleaned_data)
        is not None
    ):
        messages.success(request, "Post updated.")
        return redirect(post)
    return render(
        request, "forum/post_form.html", {"form": form, "board": post.board, "post": post}
    )


@login_required
def post_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    post = selectors.post_for_viewer(post_id=pk, viewer=request.user)
    if request.method == "POST":
        services.post_delete(post=post, actor=request.user)
        messages.success(request, "Post deleted.")
        return redirect(post.board)
    if not can_delete(request.user, post):
        return HttpResponse(
            "Only its author or an admin can delete this post; moderators can hide it.", status=403
        )
    return render(request, "forum/confirm_delete.html", {"object": post, "kind": "post"})


@require_POST
@login_required
def post_like(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    post = selectors.post_for_viewer(post_id=pk, viewer=request.user)
    if request.POST.get("action") == "unlike":
        services.post_unlike(post=post, user=request.user)
    else:
        services.post_like(post=post, user=request.user)
    return redirect(post)


@require_POST
@login_required
def post_hide(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    post = selectors.post_for_viewer(post_id=pk, viewer=request.user)
    hidden = request.POST.get("hidden") == "1"
    services.post_set_hidden(post=post, moderator=request.user, hidden=hidden)
    messages.success(request, "Post hidden from members." if hidden else "Post visible again.")
    return redirect(post)


@require_POST
@login_required
def comment_create(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    post = selectors.post_for_viewer(post_id=pk, viewer=request.user)
    form = CommentForm(request.POST)
    status = 400
    if form.is_valid() and (limited := ratelimit.exceeded(request, "comment", member=request.user)):
        form.add_error(None, limited)
        status = 429
    elif form.is_valid():
        comment = _call(
            form, services.comment_create, post=post, author=request.user, **form.cleaned_data
        )
        if comment:
            return redirect(_comment_url(comment, viewer=request.user))
    page = selectors.post_comments_page(post=post, viewer=request.user, page="last")
    context = {"post": post, "page": page, "form": form, "liked_comment_ids": set()}
    return render(request, "forum/post.html", context, status=status)


@login_required
def comment_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    comment = _comment_for_viewer(request, pk)
    if comment.author_id != request.user.pk:
        return HttpResponse("Only the author can edit this comment.", status=403)
    form = CommentForm(request.POST or None, initial={"body": comment.body})
    if (
        request.method == "POST"
        and form.is_valid()
        and _call(
            form, services.comment_update, comment=comment, editor=request.user, **form.cleaned_data
        )
        is not None
    ):
        messages.success(request, "Comment updated.")
        return redirect(_comment_url(comment, viewer=request.user))
    context = {
        "form": form,
        "comment": comment,
        "comment_url": _comment_url(comment, viewer=request.user),
    }
    return render(request, "forum/comment_form.html", context)


@login_required
def comment_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    comment = _comment_for_viewer(request, pk)
    if request.method == "POST":
        services.comment_delete(comment=comment, actor=request.user)
        messages.success(request, "Comment deleted.")
        return redirect(comment.post)
    if not can_delete(request.user, comment):
        return HttpResponse(
            "Only its author or an admin can delete this comment; moderators can hide it.",
            status=403,
        )
    return render(request, "forum/confirm_delete.html", {"object": comment, "kind": "comment"})


@require_POST
@login_required
def comment_like(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    comment = _comment_for_viewer(request, pk)
    if request.POST.get("action") == "unlike":
        services.comment_unlike(comment=comment, user=request.user)
    else:
        services.comment_like(comment=comment, user=request.user)
    return redirect(_comment_url(comment, viewer=request.user))


@require_POST
@login_required
def comment_hide(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    comment = _comment_for_viewer(request, pk)
    hidden = request.POST.get("hidden") == "1"
    services.comment_set_hidden(comment=comment, moderator=request.user, hidden=hidden)
    return redirect(_comment_url(comment, viewer=request.user))


def profile(request: HttpRequest, username: str) -> HttpResponse:
    author = get_object_or_404(User, username=username, is_active=True)
    page = selectors.user_posts_page(
        author=author, viewer=request.user, page=page_number(request.GET.get("page"))
    )
    return render(request, "forum/profile.html", {"profile_user": author, "page": page})


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("forum:index")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and (limited := ratelimit.exceeded(request, "signup")):
        form.is_valid()  # show the other errors too
        form.add_error(None, limited)
        return render(request, "registration/signup.html", {"form": form}, status=429)
    if request.method == "POST" and form.is_valid():
        user = _call(
            form,
            services.user_create,
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
            display_name=form.cleaned_data["display_name"],
        )
        if user:
            login(request, user, backend="forum.auth.UsernameOrEmailBackend")
            messages.success(request, f"Welcome to Naija-Forum, {user.name}!")
            return redirect("forum:index")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def account_email(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = EmailChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = _call(
            form,
            services.user_change_email,
            user=request.user,
            new_email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
        )
        if user:
            messages.success(
                request, f"Your email address is now {user.email}. We told your old address."
            )
            return redirect("notifications:preferences")
    return render(request, "registration/email_change_form.html", {"form": form})


class LoginView(auth_views.LoginView):
    """Django's login, with attempts limited per IP and per member, however the username or
    email address is spelled (forum.ratelimit)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = request.POST.get("username", "")[:150]
        if limited := ratelimit.exceeded(request, "login", account=username):
            form = self.get_form()
            # No password check at all. (_errors is private: django-stubs leave it out.)
            form._errors, form.cleaned_data = ErrorDict(), {}  # type: ignore[attr-defined]
            form.add_error(None, limited)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)


class PasswordChangeView(auth_views.PasswordChangeView):
    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        notifications.notify_security_event(user=form.user, event="password_changed")
        return response


class PasswordResetView(auth_views.PasswordResetView):
    """Limited per IP here and per member in PasswordResetJob. Known, unknown and limited
    addresses all get the same "check your email" page: the answer must not tell anyone
    whether an account uses the address."""

    form_class = QueuedPasswordResetForm

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        if ratelimit.exceeded(self.request, "password_reset"):
            return redirect(self.get_success_url())
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    def form_valid(self, form: SetPasswordForm[User]) -> HttpResponse:
        response = super().form_valid(form)
        notifications.notify_security_event(user=form.user, event="password_changed")
        return response


def _comment_for_viewer(request: AuthenticatedHttpRequest, pk: int) -> Comment:
    comment = get_object_or_404(
        selectors.visible_comments(request.user).select_related("post"), pk=pk
    )
    selectors.post_for_viewer(post_id=comment.post_id, viewer=request.user)
    return comment


def _comment_url(comment: Comment, *, viewer: User) -> str:
    """The comment at its anchor on the page of its thread that shows it."""
    page = selectors.comment_page_number(comment=comment, viewer=viewer)
    query = f"?page={page}" if page > 1 else ""
    return f"{comment.post.get_absolute_url()}{query}#comment-{comment.pk}"


def _call(
    form: BaseForm, service: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
) -> _T | None:
    """Run a service; put its validation errors on the form instead of raising."""
    try:
        return service(*args, **kwargs)
    except ValidationError as error:
        form.add_error(None, error)
        return None
