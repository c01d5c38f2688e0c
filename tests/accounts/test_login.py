from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from knox.models import AuthToken

from accounts.signals import tokens_revoked
from tests.accounts.factories import PASSWORD, client_for, make_user, token_for

LOGIN = "/api/auth/login/"
LOGOUT = "/api/auth/logout/"
ME = "/api/users/me/"

pytestmark = pytest.mark.django_db


def test_login_returns_token_user_and_expiry(anon):
    user = make_user("alice", display_name="Alice")

    response = anon.post(LOGIN, {"username": "alice", "password": PASSWORD})

    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"token", "user", "expiry"}
    assert body["user"] == {"id": user.pk, "username": "alice", "display_name": "Alice"}
    expiry = datetime.fromisoformat(body["expiry"])
    expected = datetime.now(UTC) + timedelta(seconds=settings.IM_TOKEN_TTL_S)
    assert abs((expiry - expected).total_seconds()) < 60
    assert client_for(token=body["token"]).get(ME).json()["id"] == user.pk


def test_tokens_are_stored_hashed(anon):
    make_user("alice")

    token = anon.post(LOGIN, {"username": "alice", "password": PASSWORD}).json()["token"]

    stored = AuthToken.objects.get()
    assert stored.digest != token
    assert token not in stored.digest


def test_each_login_is_a_separate_token(anon):
    make_user("alice")

    first = anon.post(LOGIN, {"username": "alice", "password": PASSWORD}).json()["token"]
    second = anon.post(LOGIN, {"username": "alice", "password": PASSWORD}).json()["token"]

    assert first != second
    assert AuthToken.objects.count() == 2
    assert client_for(token=first).get(ME).status_code == 200
    assert client_for(token=second).get(ME).status_code == 200


def test_login_records_last_login(anon):
    user = make_user("alice")

    anon.post(LOGIN, {"username": "alice", "password": PASSWORD})

    user.refresh_from_db()
    assert user.last_login is not None


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong-password-1"), ("nobody", PASSWORD), ("ALICE", "wrong-password-1"),
     ("аlice", PASSWORD)],
    ids=["wrong-password", "unknown-user", "other-case-wrong-password", "look-alike"],
)
def test_bad_credentials(anon, username, password):
    make_user("alice")

    response = anon.post(LOGIN, {"username": username, "password": password})

    assert response.status_code == 400
    assert list(response.json()) == ["non_field_errors"]
    assert AuthToken.objects.count() == 0


@pytest.mark.parametrize("typed", ["ALICE", "Alice", "\uff41\uff4c\uff49\uff43\uff45"],
                         ids=["upper", "title", "fullwidth"])
def test_login_finds_the_user_by_canonical_name(anon, typed):
    # Usernames are one name in every case and width (docs/protocol.md, "Usernames"):
    # login finds the account as registration would refuse the variant.
    user = make_user("alice")

    response = anon.post(LOGIN, {"username": typed, "password": PASSWORD})

    assert response.status_code == 200
    assert response.json()["user"]["id"] == user.pk


def test_inactive_user_cannot_log_in(anon):
    make_user("alice", is_active=False)

    response = anon.post(LOGIN, {"username": "alice", "password": PASSWORD})

    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_missing_fields(anon):
    response = anon.post(LOGIN, {}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"username", "password"}


# --- tokens -----------------------------------------------------------------------------


def test_missing_token(anon):
    response = anon.get(ME)

    assert response.status_code == 401
    assert "detail" in response.json()
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(
    "header",
    ["Token", "Token abc def", "Token " + "f" * 64, "Token \u00e9\u00e9", "Bearer abc"],
    ids=["no-credentials", "spaces", "unknown", "non-ascii", "other-scheme"],
)
def test_bad_token_headers(anon, header):
    make_user("alice")
    anon.credentials(HTTP_AUTHORIZATION=header)

    response = anon.get(ME)

    assert response.status_code == 401
    assert "detail" in response.json()


def test_expired_token(anon):
    user = make_user("alice")
    token = token_for(user, expiry=timedelta(seconds=-1))

    response = client_for(token=token).get(ME)

    assert response.status_code == 401
    assert not AuthToken.objects.filter(user=user).exists()  # knox drops it when seen


def test_token_past_its_expiry_column(anon):
    user = make_user("alice")
    token = token_for(user)
    AuthToken.objects.filter(user=user).update(expiry=datetime.now(UTC) - timedelta(seconds=1))

    assert client_for(token=token).get(ME).status_code == 401


def test_revoked_token(anon):
    user = make_user("alice")
    token = token_for(user)
    AuthToken.objects.filter(user=user).delete()

    assert client_for(token=token).get(ME).status_code == 401


def test_token_of_deactivated_user(anon):
    user = make_user("alice")
    client = client_for(user)
    user.is_active = False
    user.save()

    assert client.get(ME).status_code == 401


# --- logout -----------------------------------------------------------------------------


@pytest.fixture
def control_calls():
    """What logout tells the apps above accounts (`tokens_revoked`; the wire tests check
    that realtime then closes the connections)."""
    calls = []

    def record(sender, *, signal, **kwargs):
        calls.append(kwargs)

    tokens_revoked.connect(record, dispatch_uid="test-control-calls")
    yield calls
    tokens_revoked.disconnect(dispatch_uid="test-control-calls")


def test_logout_revokes_only_this_token(django_capture_on_commit_callbacks, control_calls):
    user = make_user("alice")
    phone, laptop = token_for(user), token_for(user)
    phone_key = AuthToken.objects.get(token_key=phone[:15]).token_key

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(token=phone).post(LOGOUT)

    assert response.status_code == 204
    assert client_for(token=phone).get(ME).status_code == 401
    assert client_for(token=laptop).get(ME).status_code == 200
    assert control_calls == [{"user_id": user.pk, "token_key": phone_key, "reason": "logout"}]


def test_logout_tells_live_connections_only_after_commit(
    django_capture_on_commit_callbacks, control_calls
):
    user = make_user("alice")

    with django_capture_on_commit_callbacks() as callbacks:
        client_for(user).post(LOGOUT)
        assert control_calls == []

    assert len(callbacks) == 1


def test_logout_needs_a_token(anon):
    assert anon.post(LOGOUT).status_code == 401


def test_logout_twice(anon):
    token = token_for(make_user("alice"))
    client = client_for(token=token)

    assert client.post(LOGOUT).status_code == 204
    assert client.post(LOGOUT).status_code == 401
