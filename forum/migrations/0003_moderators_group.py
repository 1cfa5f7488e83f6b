"""The Moderators group: the permissions moderation needs, and nothing that operates the
site or reads members' mail (issue 14). Staff pages check permissions, and is_staff alone
grants none, so the staff members who are not superusers join the group here and keep
moderating after the upgrade."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Moderators"
PERMISSIONS = [
    # hide and unhide posts and comments, see hidden ones, in the forum and in admin's lists
    ("forum", "hide_content"),
    ("forum", "view_post"),
    ("forum", "view_comment"),
    # every member's reports, anyone's activity report, the daily summary
    ("reports", "view_report"),
    # read the jobs dashboard (not retry, discard, pause or run anything)
    ("jobs", "view_job"),
    ("jobs", "view_process"),
    ("jobs", "view_queuepause"),
    ("django_celery_beat", "view_periodictask"),
]


def create_moderators(apps, schema_editor):
    # Permissions are created after the last migration (post_migrate): on a new database
    # they do not exist yet.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, using=schema_editor.connection.alias, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    User = apps.get_model("forum", "User")
    group, _ = Group.objects.get_or_create(name=GROUP)
    for app_label, codename in PERMISSIONS:
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    for user in User.objects.filter(is_staff=True, is_superuser=False):
        user.groups.add(group)


def remove_moderators(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("forum", "0002_hide_permissions"),
        ("reports", "0002_schedules"),
        ("jobs", "0006_retry_index"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_moderators, remove_moderators)]
