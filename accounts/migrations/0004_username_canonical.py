"""Usernames compared in one canonical form (NFKC, case-folded) on every database.

Existing accounts get their canonical name here. Two accounts made before this
migration may share one (on SQLite "Émile" and "émile" could both register): the
older keeps it, each later one gets "<canonical>~<id>" ("~" is never in a username),
so both still log in by their exact spelling and nobody can take that name again.

On PostgreSQL the username search moves from UPPER(username) to this column: its
prefix index replaces the one of 0003.
"""

import unicodedata

from django.db import migrations, models

import accounts.models

OLD_INDEX = "accounts_user_username_upper_like"
INDEX = "accounts_user_username_canonical_like"


def canonical(name: str) -> str:
    # A copy of accounts.usernames.canonical_username as it is today: a migration
    # must not change when the app's code does.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def fill_canonical(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    seen = set()
    for pk, username in User.objects.order_by("pk").values_list("pk", "username").iterator():
        name = canonical(username)
        if name in seen:
            name = f"{name}~{pk}"
        seen.add(name)
        User.objects.filter(pk=pk).update(username_canonical=name)


def create_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX IF EXISTS "{OLD_INDEX}"')
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{INDEX}" '
            'ON "accounts_user" ("username_canonical" varchar_pattern_ops)'
        )


def drop_search_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX IF EXISTS "{INDEX}"')
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{OLD_INDEX}" '
            'ON "accounts_user" ((UPPER("username"::text)) text_pattern_ops)'
        )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_username_prefix_index"),
    ]

    operations = [
        migrations.AlterModelManagers(
            name="user",
            managers=[("objects", accounts.models.AccountManager())],
        ),
        migrations.AddField(
            model_name="user",
            name="username_canonical",
            field=models.CharField(editable=False, max_length=450, null=True),
        ),
        migrations.RunPython(fill_canonical, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="user",
            name="username_canonical",
            field=models.CharField(editable=False, max_length=450, unique=True),
        ),
        migrations.RunPython(create_search_index, drop_search_index, elidable=False),
    ]
