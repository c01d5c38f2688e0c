import pytest
from django.core.management import call_command
from knox.models import AuthToken

from accounts.models import Block, TokenSession, User
from tests.accounts.factories import PASSWORD, make_user, token_for

pytestmark = pytest.mark.django_db


def test_createsuperuser_works_with_the_custom_user(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)

    call_command(
        "createsuperuser", interactive=False, username="admin", email="a@example.com", verbosity=0
    )

    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.check_password(PASSWORD)


def test_user_admin_search_and_filters(staff_client):
    make_user("alice", display_name="Wonderland")
    make_user("bob")

    by_name = staff_client.get("/admin/accounts/user/", {"q": "wonder"})
    filtered = staff_client.get(
        "/admin/accounts/user/", {"is_active__exact": "1", "is_staff__exact": "0"}
    )

    assert by_name.status_code == 200
    assert b"alice" in by_name.content and b"bob" not in by_name.content
    assert filtered.status_code == 200


def test_user_admin_pages(staff_client):
    user = make_user("alice")

    assert staff_client.get(f"/admin/accounts/user/{user.pk}/change/").status_code == 200
    assert staff_client.get("/admin/accounts/user/add/").status_code == 200


def test_user_admin_add(staff_client):
    response = staff_client.post(
        "/admin/accounts/user/add/",
        {
            "username": "added",
            "display_name": "Added",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "usable_password": "true",
        },
    )

    assert response.status_code == 302, response.content[:2000]
    assert User.objects.get(username="added").check_password(PASSWORD)


def test_user_admin_refuses_a_case_variant_username(staff_client):
    make_user("alice")

    response = staff_client.post(
        "/admin/accounts/user/add/",
        {
            "username": "Alice",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "usable_password": "true",
        },
    )

    assert response.status_code == 200  # the form again, with the error
    assert User.objects.filter(username__iexact="alice").count() == 1


def test_token_admin_finds_tokens_by_user(staff_client):
    token_for(make_user("alice"))
    token_for(make_user("bob"))

    response = staff_client.get("/admin/knox/authtoken/", {"q": "alice"})

    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert AuthToken.objects.count() == 2


def test_schema_describes_the_account_endpoints(anon):
    response = anon.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/auth/register/", "/api/auth/login/", "/api/auth/logout/"} <= set(paths)
    assert {"/api/users/", "/api/users/me/", "/api/users/{user_id}/"} <= set(paths)
    assert set(paths["/api/users/me/"]) >= {"get", "patch"}
    login = paths["/api/auth/login/"]["post"]
    assert "requestBody" in login and {"200", "400", "429"} <= set(login["responses"])


def test_user_admin_refuses_a_unicode_case_variant_username(staff_client):
    make_user("\u00c9mile")

    response = staff_client.post(
        "/admin/accounts/user/add/",
        {
            "username": "\u00e9mile",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "usable_password": "true",
        },
    )

    assert response.status_code == 200  # the form again, with the error
    assert User.objects.count() == 2  # the superuser and Émile


def test_token_admin_shows_the_device_and_block_admin_lists_blocks(staff_client):
    alice, bob = make_user("alice"), make_user("bob")
    token, _ = AuthToken.objects.create(user=alice)
    TokenSession.objects.create(token=token, device="phone-7")
    token_for(bob)  # a token with no session row shows an empty device
    Block.objects.create(blocker=alice, blocked=bob)

    tokens = staff_client.get("/admin/knox/authtoken/")
    assert tokens.status_code == 200 and b"phone-7" in tokens.content
    blocks = staff_client.get("/admin/accounts/block/", {"q": "bob"})
    assert blocks.status_code == 200 and blocks.context["cl"].result_count == 1
    assert staff_client.get("/admin/accounts/block/add/").status_code == 403


def test_schema_describes_account_control(anon):
    paths = anon.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()[
        "paths"]
    assert {"/api/blocks/", "/api/blocks/{user_id}/", "/api/auth/sessions/",
            "/api/auth/sessions/{session_id}/", "/api/auth/logout-all/",
            "/api/auth/password/"} <= set(paths)
    delete_me = paths["/api/users/me/"]["delete"]
    assert delete_me["requestBody"]["required"] is True
    assert {"204", "400", "401", "429"} <= set(delete_me["responses"])
