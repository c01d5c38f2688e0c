"""schemathesis hooks for the IM server (loaded through schemathesis.toml).

Some rules of the API cannot be written in OpenAPI: a new username must be free and
of one script, a password must pass Django's password validators, `members` and
`user_ids` must name existing users, an `avatar` must be an image the caller
uploaded. As schemathesis's guide advises, requests generated as valid get realistic
values for exactly those fields (users, an image and credentials that the test made
for the run, passed in IM_FUZZ_* variables); requests generated as invalid are sent
as generated. No check is switched off or loosened.

POST /api/auth/logout/ revokes the token it is sent with: each call gets a token of
its own, so the run's token keeps working. The calls that sign out other sessions,
change the password or close the account are sent, instead of as the run's user, as
a user registered for that one call (with its password where the body asks for one),
so the run's user and token keep working too.
"""

from __future__ import annotations

import itertools
import json
import os
import secrets
import urllib.request

import schemathesis

_counter = itertools.count()
_RUN_TOKEN = f"Token {os.environ.get('IM_FUZZ_TOKEN', '')}"


def _env_ids(name: str) -> list[int]:
    return [int(part) for part in os.environ.get(name, "").split(",") if part]


def _positive(case) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


def _fresh_token() -> str:
    """A new token for the run's user (logout will revoke it)."""
    body = json.dumps({"username": os.environ["IM_FUZZ_USERNAME"],
                       "password": os.environ["IM_FUZZ_PASSWORD"]}).encode()
    request = urllib.request.Request(os.environ["IM_FUZZ_BASE_URL"] + "/api/auth/login/",
                                     data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["token"]


def _realistic_body(path: str, body: dict) -> None:
    """Replace, in a valid body, the fields whose validity depends on server state."""
    users = _env_ids("IM_FUZZ_USER_IDS")
    if path == "/api/auth/register/":
        # Free and of one script: an ASCII prefix of the drawn name plus a counter.
        base = "".join(c for c in str(body.get("username", "")) if c.isascii())[:100]
        body["username"] = f"{base}fz{os.getpid()}x{next(_counter)}"
        body["password"] = secrets.token_urlsafe(18)
    elif path == "/api/auth/login/":
        body["username"] = os.environ["IM_FUZZ_USERNAME"]
        body["password"] = os.environ["IM_FUZZ_PASSWORD"]
    elif path == "/api/users/me/" and body.get("avatar"):
        body["avatar"] = os.environ["IM_FUZZ_AVATAR"]
    elif path == "/api/groups/" and body.get("members"):
        body["members"] = users[: len(body["members"])]
    elif path == "/api/groups/{group_id}/members/" and "user_ids" in body:
        body["user_ids"] = users[: len(body["user_ids"])]
    elif path == "/api/blocks/" and "user_id" in body:
        body["user_id"] = users[1 + body["user_id"] % (len(users) - 1)]  # not oneself
    elif path == "/api/auth/password/":
        body["old_password"] = _THROWAWAY_PASSWORD
        body["new_password"] = secrets.token_urlsafe(18)
    elif path == "/api/users/me/" and "password" in body:
        body["password"] = _THROWAWAY_PASSWORD
    elif path == "/api/devices/" and "kind" in body:
        # What a target must be depends on the kind (docs/protocol.md, Notifications).
        body["target"] = {
            "webhook": "https://push.example.com/hook",
            "webpush": {"endpoint": "https://push.example.com/sub",
                        "keys": {"p256dh": "BPk", "auth": "k1"}},
        }.get(body["kind"], "device-token-1")


# Operations that would revoke the run's token or lock its user out.
_THROWAWAY_USER = {
    ("POST", "/api/auth/logout-all/"),
    ("POST", "/api/auth/password/"),
    ("DELETE", "/api/auth/sessions/{session_id}/"),
    ("DELETE", "/api/users/me/"),
}
_THROWAWAY_PASSWORD = "a throwaway password 4 fuzzing"


def _post(path: str, body: dict) -> dict:
    request = urllib.request.Request(
        os.environ["IM_FUZZ_BASE_URL"] + path, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _throwaway_token() -> str:
    """A token of a user registered for one call."""
    credentials = {"username": f"fzthrow{os.getpid()}x{next(_counter)}",
                   "password": _THROWAWAY_PASSWORD}
    _post("/api/auth/register/", credentials)
    return _post("/api/auth/login/", credentials)["token"]


@schemathesis.hook
def before_call(context, case, kwargs):
    path = case.operation.path
    headers = case.headers or {}
    if headers.get("Authorization") == _RUN_TOKEN:
        # Whatever else the case does, it must not revoke the run's token.
        if path == "/api/auth/logout/":
            case.headers = {**headers, "Authorization": f"Token {_fresh_token()}"}
        elif (case.operation.method.upper(), path) in _THROWAWAY_USER:
            case.headers = {**headers, "Authorization": f"Token {_throwaway_token()}"}
    if _positive(case) and isinstance(case.body, dict):
        _realistic_body(path, case.body)
    # Cases generated as invalid are sent as generated: the server must refuse them.

