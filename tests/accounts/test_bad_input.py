"""Whatever a client sends, the account endpoints answer 4xx with a JSON body, never 500."""

import pytest

from tests.accounts.factories import PASSWORD, client_for, make_user

pytestmark = pytest.mark.django_db

REGISTER = "/api/auth/register/"
LOGIN = "/api/auth/login/"
ME = "/api/users/me/"

RAW_BODIES = [
    b"{",
    b"not json",
    b"[1, 2]",
    b'"a string"',
    b"null",
    b"12",
    b'{"username": NaN}',
    b"\xff\xfe\x00",
    b'{"username": "\\ud800", "password": "\\udfff-pass-1234"}',
    b'{"username": {"$gt": ""}, "password": ["x"]}',
]


def post_raw(client, url, body: bytes, method="post"):
    return getattr(client, method)(url, body, content_type="application/json")


def assert_json_4xx(response):
    assert 400 <= response.status_code < 500, response.content
    assert isinstance(response.json(), dict | list)


@pytest.mark.parametrize("body", RAW_BODIES)
@pytest.mark.parametrize("url", [REGISTER, LOGIN])
def test_anonymous_endpoints_refuse_bad_bodies(anon, url, body):
    assert_json_4xx(post_raw(anon, url, body))


PATCH_BODIES = [
    *RAW_BODIES[:8],
    b'{"display_name": "\\ud800"}',
    b'{"bio": {"$gt": ""}}',
]


@pytest.mark.parametrize("body", PATCH_BODIES)
def test_profile_update_refuses_bad_bodies(body):
    assert_json_4xx(post_raw(client_for(make_user()), ME, body, method="patch"))


@pytest.mark.parametrize(
    "body",
    [
        {"username": 5, "password": PASSWORD},
        {"username": True, "password": PASSWORD},
        {"username": None, "password": PASSWORD},
        {"username": ["alice"], "password": PASSWORD},
        {"username": "alice", "password": 12345678901},
        {"username": "alice", "password": "p" * 5000},
        {"username": "alice", "password": PASSWORD, "display_name": 7},
        {"username": "ali\u0000ce", "password": PASSWORD},
        {"username": "alice", "password": "pass\u0000word-123"},
        {"username": "x" * 100_000, "password": PASSWORD},
    ],
)
@pytest.mark.parametrize("url", [REGISTER, LOGIN])
def test_wrong_types_and_sizes(anon, url, body):
    assert_json_4xx(anon.post(url, body))


def test_form_encoded_body_is_unsupported(anon):
    response = anon.post(REGISTER, {"username": "a", "password": PASSWORD}, format="multipart")

    assert response.status_code == 415
    assert "detail" in response.json()


def test_huge_body(anon):
    body = b'{"username": "' + b"a" * 3_000_000 + b'", "password": "x"}'

    assert_json_4xx(post_raw(anon, REGISTER, body))


@pytest.mark.parametrize("method", ["get", "put", "delete"])
@pytest.mark.parametrize("url", [REGISTER, LOGIN])
def test_wrong_method(anon, url, method):
    response = getattr(anon, method)(url)

    assert response.status_code == 405
    assert "detail" in response.json()
