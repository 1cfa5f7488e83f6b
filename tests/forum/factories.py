from importlib import import_module

import factory
from django.contrib.auth.models import Group, Permission
from factory.django import DjangoModelFactory

from forum.markdown import render_markdown
from forum.models import Board, Comment, Post, Section, User


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    display_name = factory.Faker("name")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def permissions(self, create, names, **kwargs):
        """UserFactory(permissions=["jobs.view_job", …]) grants each to the user."""
        for name in names or ():
            app_label, codename = name.split(".")
            self.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )

    @factory.post_generation
    def groups(self, create, names, **kwargs):
        """UserFactory(groups=["Moderators"]) adds the user to each (existing) group."""
        for name in names or ():
            self.groups.add(Group.objects.get(name=name))


def moderators_group() -> Group:
    """The Moderators group as forum's migration 0003 makes it. Transactional tests empty every
    table, the migration's rows too: then it is made again from the migration's own list."""
    migration = import_module("forum.migrations.0003_moderators_group")
    group, created = Group.objects.get_or_create(name=migration.GROUP)
    if created:
        group.permissions.set(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
            for app_label, codename in migration.PERMISSIONS
        )
    return group


class SectionFactory(DjangoModelFactory):
    class Meta:
        model = Section
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Section {n}")
    slug = factory.Sequence(lambda n: f"section-{n}")


class BoardFactory(DjangoModelFactory):
    class Meta:
        model = Board

    section = factory.SubFactory(SectionFactory)
    name = factory.Sequence(lambda n: f"Board {n}")
    slug = factory.Sequence(lambda n: f"board-{n}")
    description = "A board for testing"


class PostFactory(DjangoModelFactory):
    """Rows only: counters stay untouched. Use forum.services where counters matter."""

    class Meta:
        model = Post

    board = factory.SubFactory(BoardFactory)
    author = factory.SubFactory(UserFactory)
    title = factory.Faker("sentence", nb_words=6)
    body = factory.Faker("paragraph")
    body_html = factory.LazyAttribute(lambda p: render_markdown(p.body))


class CommentFactory(DjangoModelFactory):
    class Meta:
        model = Comment

    post = factory.SubFactory(PostFactory)
    author = factory.SubFactory(UserFactory)
    body = factory.Faker("paragraph")
    body_html = factory.LazyAttribute(lambda c: render_markdown(c.body))
