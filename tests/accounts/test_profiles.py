import pytest

from accounts.models import User
from media.models import MediaFile
from tests.accounts.factories import client_for, make_user

ME = "/api/users/me/"
SEARCH = "/api/users/"

pytestmark = pytest.mark.django_db


def profile(user: User) -> dict:
    return {
        "id": user.pk,
        "username": user.username,
        "display_name": user.display_name,
        "bio": user.bio,
        "avatar": f"/api/media/{user.avatar}/" if user.avatar else "",
    }


def make_image(owner: User) -> MediaFile:
    return MediaFile.objects.create(
        owner=owner, storage_name="x.png", mime="image/png", size=10, name="x.png",
        kind="image", width=1, height=1,
    )


def test_get_my_profile():
    user = make_user("alice", display_name="Alice", bio="hi")
    user.avatar = make_image(user).id
    user.save()

    response = client_for(user).get(ME)

    assert response.status_code == 200
    assert response.json() == profile(user)


def test_patch_my_profile():
    user = make_user("alice")
    client = client_for(user)

    image = make_image(user)

    response = client.patch(
        ME, {"display_name": "Alice A.", "bio": "b" * 500, "avatar": image.id}, format="json"
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.display_name, user.bio, user.avatar) == ("Alice A.", "b" * 500, image.id)
    assert response.json() == profile(user)


def test_patch_changes_only_given_fields():
    user = make_user("alice", display_name="Alice", bio="old bio")

    response = client_for(user).patch(ME, {"bio": ""}, format="json")

    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.display_name, user.bio) == ("Alice", "")


def test_patch_cannot_change_username_or_id():
    user = make_user("alice")

    response = client_for(user).patch(ME, {"username": "mallory", "id": 999}, format="json")

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.username == "alice"
    assert response.json()["id"] == user.pk


@pytest.mark.parametrize(
    "body",
    [
        {"display_name": "d" * 65},
        {"bio": "b" * 501},
        {"avatar": "a" * 201},
        {"display_name": None},
        {"display_name": 5},
        {"bio": ["x"]},
        {"avatar": {"id": 1}},
        {"display_name": "nul\u0000byte"},
    ],
    ids=["long-name", "long-bio", "long-avatar", "null", "int", "list", "object", "nul"],
)
def test_patch_bad_values(body):
    user = make_user("alice", display_name="Alice")

    response = client_for(user).patch(ME, body, format="json")

    assert response.status_code == 400
    assert set(response.json()) == set(body)
    user.refresh_from_db()
    assert user.display_name == "Alice"


def test_put_is_not_allowed():
    assert client_for(make_user()).put(ME, {}, format="json").status_code == 405


def test_public_profile():
    viewer, other = make_user(), make_user("bob", display_name="Bob", bio="hello")

    response = client_for(viewer).get(f"/api/users/{other.pk}/")

    assert response.status_code == 200
    assert response.json() == profile(other)


@pytest.mark.parametrize(
    "user_id", ["0", "999999", str(2**63 - 1), str(2**63), str(10**30), "1" * 200]
)
def test_unknown_user_is_404_json(user_id):
    response = client_for(make_user()).get(f"/api/users/{user_id}/")

    assert response.status_code == 404
    assert "detail" in response.json()


def test_profiles_need_a_token(anon):
    user = make_user()

    assert anon.get(f"/api/users/{user.pk}/").status_code == 401
    assert anon.get(SEARCH, {"search": "u"}).status_code == 401


# --- search -------------------------------------------------------------------------------


def test_search_by_prefix_ignoring_case():
    viewer = make_user("viewer")
    alice, alicia = make_user("Alice"), make_user("alicia")
    make_user("bob")
    make_user("malice")

    response = client_for(viewer).get(SEARCH, {"search": "ALI"})

    assert response.status_code == 200
    assert response.json() == [profile(alice), profile(alicia)]


def test_search_skips_inactive_users():
    viewer = make_user("viewer")
    make_user("alice", is_active=False)

    assert client_for(viewer).get(SEARCH, {"search": "ali"}).json() == []


def test_search_returns_at_most_50():
    viewer = make_user("viewer")
    User.objects.bulk_create([User(username=f"many{i:03}") for i in range(60)])

    response = client_for(viewer).get(SEARCH, {"search": "many"})

    assert [u["username"] for u in response.json()] == [f"many{i:03}" for i in range(50)]


def test_search_wildcards_are_literal():
    viewer = make_user("viewer")
    make_user("a_b")
    make_user("axb")

    assert [u["username"] for u in client_for(viewer).get(SEARCH, {"search": "a_"}).json()] == [
        "a_b"
    ]
    assert client_for(viewer).get(SEARCH, {"search": "%"}).json() == []


@pytest.mark.parametrize(
    "query", [{}, {"search": ""}, {"search": "   "}, {"search": "x" * 151}, {"search": "a\x00b"}]
)
def test_search_needs_a_valid_prefix(query):
    response = client_for(make_user()).get(SEARCH, query)

    assert response.status_code == 400
    assert "search" in response.json()


def test_longest_search_is_accepted():
    assert client_for(make_user()).get(SEARCH, {"search": "x" * 150}).status_code == 200
