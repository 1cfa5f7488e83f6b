import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [("forum", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="PostSearchIndex",
            fields=[
                ("post", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, serialize=False, to="forum.post")),
                ("board_id", models.BigIntegerField(null=True)),
                ("author_id", models.BigIntegerField(null=True)),
                ("created_at", models.DateTimeField(null=True)),
                ("vector", django.contrib.postgres.search.SearchVectorField(null=True)),
                ("dirty", models.BooleanField(default=True)),
                ("version", models.PositiveSmallIntegerField(default=0)),
                ("indexed_at", models.DateTimeField(null=True)),
            ],
            options={
                "indexes": [
                    django.contrib.postgres.indexes.GinIndex(fields=["vector"], name="search_vector_gin"),
                    models.Index(models.F("created_at").desc(), name="search_created_idx"),
                    models.Index("board_id", "post", name="search_board_idx"),
                    models.Index("author_id", "post", name="search_author_idx"),
                    models.Index("post", condition=models.Q(("dirty", True), ("version__lt", 1), _connector="OR"), name="search_pending_idx"),
                ],
            },
        ),
        migrations.CreateModel(
            name="ReindexCheckpoint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("scope", models.CharField(help_text="board slug, or '' for all", max_length=100, unique=True)),
                ("last_post_id", models.BigIntegerField(default=0)),
                ("started_at", models.DateTimeField()),
                ("updated_at", models.DateTimeField()),
            ],
        ),
        # The planner picks between the GIN index and a newest-first scan from the lexeme
        # frequencies: a bigger sample makes those estimates good enough to choose well.
        migrations.RunSQL(
            "ALTER TABLE search_postsearchindex ALTER COLUMN vector SET STATISTICS 1000",
            migrations.RunSQL.noop,
        ),
        # Existing posts get a row of version 0: the sweep indexes them in the background.
        migrations.RunSQL(
            "INSERT INTO search_postsearchindex (post_id, dirty, version) "
            "SELECT id, false, 0 FROM forum_post",
            migrations.RunSQL.noop,
        ),
    ]
