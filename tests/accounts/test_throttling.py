import pytest

from tests.accounts.factories import PASSWORD, json_client, make_user

LOGIN = "/api/auth/login/"
REGISTER = "/api/auth/register/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    def set_rates(**rates):
        current = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**current, **rates},
        }

    return set_rates


def login(client, username, password=PASSWORD, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def test_login_throttled_per_username(anon, rates):
    rates(login_user="3/min", login_ip="100/min")
    make_user("alice")
    make_user("bob")

    for _ in range(3):
        assert login(anon, "alice", "wrong-password-1").status_code == 400
    response = login(anon, "alice")  # even the right password, from anywhere

    assert response.status_code == 429
    assert "detail" in response.json()
    assert int(response["Retry-After"]) > 0
    assert login(json_client(), "alice", REMOTE_ADDR="10.9.9.9").status_code == 429
    assert login(json_client(), "ALICE", REMOTE_ADDR="10.9.9.8").status_code == 429
    assert login(anon, "bob").status_code == 200


def test_login_throttled_per_address(anon, rates):
    rates(login_ip="4/min", login_user="100/min")
    make_user("alice")

    statuses = [login(anon, f"nobody{i}").status_code for i in range(4)]
    throttled = login(anon, "alice")

    assert statuses == [400] * 4
    assert throttled.status_code == 429
    assert login(json_client(), "alice", REMOTE_ADDR="10.0.0.2").status_code == 200


def test_forwarded_for_does_not_escape_the_address_limit(anon, rates):
    rates(login_ip="2/min", login_user="100/min")

    for i in range(2):
        login(anon, f"n{i}", HTTP_X_FORWARDED_FOR=f"10.1.1.{i}")
    response = login(anon, "n9", HTTP_X_FORWARDED_FOR="10.1.1.99")

    assert response.status_code == 429


def test_register_throttled_per_address(anon, rates):
    rates(register_ip="2/min")

    for i in range(2):
        assert anon.post(REGISTER, {"username": f"u{i}", "password": PASSWORD}).status_code == 201
    response = anon.post(REGISTER, {"username": "u9", "password": PASSWORD})

    assert response.status_code == 429
    assert "detail" in response.json()


def test_default_login_rate_applies(anon, settings):
    limit, _ = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login_user"].split("/")
    make_user("alice")

    for _ in range(int(limit)):
        assert login(anon, "alice", "wrong-password-1").status_code in (400, 429)
    assert login(anon, "alice").status_code == 429


def test_login_with_a_non_object_body_is_not_throttled_by_username(anon, rates):
    rates(login_user="1/min", login_ip="100/min")

    assert anon.post(LOGIN, ["alice"]).status_code == 400
    assert anon.post(LOGIN, ["alice"]).status_code == 400
