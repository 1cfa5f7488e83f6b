from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import QuerySet
from django.http import HttpRequest

from forum import services
from forum.auth import AuthenticatedHttpRequest
from forum.forms import UsernameRuleMixin
from forum.models import Board, Comment, Post, Section, User
from forum.permissions import can_hide


class UserAddForm(UsernameRuleMixin, AdminUserCreationForm):
    pass


class UserEditForm(UsernameRuleMixin, UserChangeForm):
    pass


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form, add_form = UserEditForm, UserAddForm
    # django-stubs type fieldsets as BaseModelAdmin's (Optional); Django's UserAdmin sets it.
    fieldsets = (*DjangoUserAdmin.fieldsets, ("Forum", {"fields": ("display_name",)}))  # type: ignore[misc]
    list_display = ("username", "email", "display_name", "is_staff", "is_active", "date_joined")
    search_fields = ("username", "email", "display_name")


class BoardInline(admin.TabularInline):
    model = Board
    fields = ("name", "slug", "description", "position")
    extra = 0


@admin.register(Section)
class SectionAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "position")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [BoardInline]


@admin.register(Board)
class BoardAdmin(admin.ModelAdmin):
    list_display = ("name", "section", "post_count", "last_activity_at")
    list_filter = ("section",)
    readonly_fields = ("post_count", "last_activity_at")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "board",
        "author",
        "created_at",
        "comment_count",
        "like_count",
        "is_hidden",
    )
    list_filter = ("is_hidden", "board")
    search_fields = ("title",)
    raw_id_fields = ("author", "board")
    readonly_fields = ("body_html", "comment_count", "like_count", "is_hidden")
    show_full_result_count = False
    actions = ["hide", "unhide"]

    def has_hide_permission(self, request: HttpRequest) -> bool:
        return can_hide(request.user)

    @admin.action(description="Hide selected posts from members", permissions=["hide"])
    def hide(self, request: AuthenticatedHttpRequest, queryset: QuerySet[Post]) -> None:
        for post in queryset:
            services.post_set_hidden(post=post, moderator=request.user, hidden=True)

    @admin.action(description="Show selected posts again", permissions=["hide"])
    def unhide(self, request: AuthenticatedHttpRequest, queryset: QuerySet[Post]) -> None:
        for post in queryset:
            services.post_set_hidden(post=post, moderator=request.user, hidden=False)


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ("id", "post", "author", "created_at", "like_count", "is_hidden")
    list_filter = ("is_hidden",)
    raw_id_fields = ("author", "post")
    readonly_fields = ("body_html", "like_count", "is_hidden")
    show_full_result_count = False
    actions = ["hide", "unhide"]

    def has_hide_permission(self, request: HttpRequest) -> bool:
        return can_hide(request.user)

    @admin.action(description="Hide selected comments from members", permissions=["hide"])
    def hide(self, request: AuthenticatedHttpRequest, queryset: QuerySet[Comment]) -> None:
        for comment in queryset:
            services.comment_set_hidden(comment=comment, moderator=request.user, hidden=True)

    @admin.action(description="Show selected comments again", permissions=["hide"])
    def unhide(self, request: AuthenticatedHttpRequest, queryset: QuerySet[Comment]) -> None:
        for comment in queryset:
            services.comment_set_hidden(comment=comment, moderator=request.user, hidden=False)
