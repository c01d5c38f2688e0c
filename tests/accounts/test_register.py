import pytest

from accounts.models import User
from tests.accounts.factories import PASSWORD, make_user

URL = "/api/auth/register/"

pytestmark = pytest.mark.django_db


def test_register_creates_an_active_user(anon):
    response = anon.post(URL, {"username": "alice", "password": PASSWORD, "display_name": "Alice"})

    assert response.status_code == 201
    user = User.objects.get(username="alice")
    assert response.json() == {"id": user.pk, "username": "alice", "display_name": "Alice"}
    assert user.is_active
    assert user.check_password(PASSWORD)
    assert user.password != PASSWORD


def test_display_name_is_optional(anon):
    response = anon.post(URL, {"username": "bob", "password": PASSWORD})

    assert response.status_code == 201
    assert response.json()["display_name"] == ""


def test_duplicate_username_is_a_field_error(anon):
    make_user("alice")

    response = anon.post(URL, {"username": "alice", "password": PASSWORD})

    assert response.status_code == 400
    assert "username" in response.json()
    assert User.objects.filter(username="alice").count() == 1


def test_username_differing_only_in_case_is_taken(anon):
    make_user("alice")

    response = anon.post(URL, {"username": "ALICE", "password": PASSWORD})

    assert response.status_code == 400
    assert "username" in response.json()


@pytest.mark.parametrize(
    "password",
    ["short1", "password", "12345678901", "alice-the-user"],
    ids=["too-short", "common", "numeric", "like-username"],
)
def test_weak_password_is_refused(anon, password):
    response = anon.post(URL, {"username": "alice-the-user", "password": password})

    assert response.status_code == 400
    assert "password" in response.json()
    assert not User.objects.filter(username="alice-the-user").exists()


def test_password_and_username_errors_come_together(anon):
    make_user("taken")

    response = anon.post(URL, {"username": "taken", "password": "1"})

    assert response.status_code == 400
    assert set(response.json()) == {"username", "password"}


@pytest.mark.parametrize(
    "username",
    ["", " ", "has space", "semi;colon", "x" * 151, "slash/name"],
    ids=["empty", "blank", "space", "semicolon", "too-long", "slash"],
)
def test_username_rules(anon, username):
    response = anon.post(URL, {"username": username, "password": PASSWORD})

    assert response.status_code == 400
    assert "username" in response.json()


def test_longest_and_unicode_usernames_are_accepted(anon):
    assert anon.post(URL, {"username": "x" * 150, "password": PASSWORD}).status_code == 201
    assert anon.post(URL, {"username": "Zoë.o_o+1@-", "password": PASSWORD}).status_code == 201


def test_username_is_normalized(anon):
    # NFKC: the ligature "ﬁ" is stored as "fi", so the two spellings are one name.
    assert anon.post(URL, {"username": "ﬁsh", "password": PASSWORD}).status_code == 201
    assert User.objects.filter(username="fish").exists()
    assert anon.post(URL, {"username": "fish", "password": PASSWORD}).status_code == 400


def test_password_keeps_its_whitespace(anon):
    password = f"  {PASSWORD}  "
    assert anon.post(URL, {"username": "spacey", "password": password}).status_code == 201
    assert User.objects.get(username="spacey").check_password(password)


def test_display_name_too_long(anon):
    response = anon.post(URL, {"username": "a", "password": PASSWORD, "display_name": "d" * 65})

    assert response.status_code == 400
    assert "display_name" in response.json()


def test_register_ignores_a_token_header(anon):
    anon.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert anon.post(URL, {"username": "carol", "password": PASSWORD}).status_code == 201
