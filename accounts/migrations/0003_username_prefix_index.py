"""PostgreSQL only: an index that serves the case-insensitive username prefix search.

`username__istartswith` compiles to `UPPER("username"::text) LIKE UPPER(%s)` on
PostgreSQL; a btree with text_pattern_ops on that expression turns the search into
an index range scan under any database collation. SQLite has no operator classes
and its user tables stay small, so it gets nothing.
"""

from django.db import migrations

INDEX = "accounts_user_username_upper_like"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{INDEX}" '
            'ON "accounts_user" ((UPPER("username"::text)) text_pattern_ops)'
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX IF EXISTS "{INDEX}"')


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_username_ci_unique"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index, elidable=False),
    ]
