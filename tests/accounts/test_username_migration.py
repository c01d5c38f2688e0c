"""The data migration that gives existing accounts their canonical usernames."""

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import User
from tests.accounts.factories import PASSWORD, json_client

pytestmark = pytest.mark.embedded

BEFORE = [("accounts", "0003_username_prefix_index")]
AFTER = [("accounts", "0004_username_canonical")]


def latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_existing_accounts_get_canonical_names_and_twins_keep_working():
    old_apps = migrate(BEFORE)
    OldUser = old_apps.get_model("accounts", "User")
    password = make_password(PASSWORD)
    # Possible before on both databases: UPPER() leaves "ß" as it is, case folding
    # makes it "ss".
    first = OldUser.objects.create(username="Stra\u00dfe", password=password)
    twin = OldUser.objects.create(username="strasse", password=password)
    plain = OldUser.objects.create(username="Bob", password=password)

    new_apps = migrate(AFTER)

    NewUser = new_apps.get_model("accounts", "User")
    canonical = dict(NewUser.objects.values_list("pk", "username_canonical"))
    assert canonical[first.pk] == "strasse"
    assert canonical[twin.pk] == f"strasse~{twin.pk}"
    assert canonical[plain.pk] == "bob"
    # The accounts then work through today's code, at today's schema.
    migrate(latest())
    assert User.objects.get(pk=plain.pk).username_canonical == "bob"
    client = json_client()
    for name, pk in (("Stra\u00dfe", first.pk), ("strasse", twin.pk), ("BOB", plain.pk)):
        response = client.post("/api/auth/login/", {"username": name, "password": PASSWORD})
        assert response.status_code == 200, response.content
        assert response.json()["user"]["id"] == pk
    response = client.post("/api/auth/register/", {"username": "STRASSE", "password": PASSWORD})
    assert response.status_code == 400
