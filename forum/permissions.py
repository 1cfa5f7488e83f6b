"""Who may moderate what: Django permissions, never is_staff (which only lets a user into
admin). The Moderators group (migration 0003) holds what moderation needs; superusers hold all.

- forum.hide_content: hide and unhide posts and comments, and see what is hidden (to judge
  and unhide it; forum.selectors.sees_hidden);
- forum.delete_post / forum.delete_comment: delete someone else's content (authors delete
  their own).
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from forum.models import Comment, Post, User


def can_hide(user: User | AnonymousUser) -> bool:
    return user.has_perm("forum.hide_content")


def can_delete(user: User | AnonymousUser, content: Post | Comment) -> bool:
    return content.author_id == user.pk or user.has_perm(f"forum.delete_{content._meta.model_name}")
