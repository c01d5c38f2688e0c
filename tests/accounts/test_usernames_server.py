"""Usernames are compared NFKC-normalised and case-folded on every database, and
names mixing scripts (look-alikes such as "аlice" with a Cyrillic "а") are refused.
Against a real server, on SQLite (where UPPER() is ASCII-only) and PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
import urllib.parse

import pytest

from tests.support.clients import ahttp, make_user

pytestmark = pytest.mark.embedded

PASSWORD = "correct horse battery staple"


async def register(server, username: str) -> tuple[int, dict]:
    return await ahttp(server.base_url, "POST", "/api/auth/register/",
                       {"username": username, "password": PASSWORD})


async def login(server, username: str) -> tuple[int, dict]:
    return await ahttp(server.base_url, "POST", "/api/auth/login/",
                       {"username": username, "password": PASSWORD})


def tag() -> str:
    return f"{secrets.randbelow(10**8):08d}"  # digits: a script of no letters


async def test_a_cyrillic_look_alike_is_refused(server):
    name = f"alice{tag()}"
    assert (await register(server, name))[0] == 201

    status, body = await register(server, "\u0430" + name[1:])  # Cyrillic а

    assert status == 400
    assert "username" in body
    assert "Cyrillic" in body["username"][0] and "Latin" in body["username"][0]


@pytest.mark.parametrize("name", ["p\u0430ypal", "\u0391lpha", "bob\u0432"],
                         ids=["cyrillic-in-latin", "greek-capital-alpha", "cyrillic-tail"])
async def test_mixed_scripts_are_refused_even_with_no_twin(server, name):
    status, body = await register(server, name + tag())

    assert status == 400
    assert "username" in body


@pytest.mark.parametrize("name", ["\u0438\u0432\u0430\u043d", "\u5c71\u7530\u305f\u308d\u3046",
                                  "\u0396\u03c9\u03ae", "Zo\u00eb"],
                         ids=["cyrillic", "japanese", "greek", "latin-diaeresis"])
async def test_names_of_one_script_are_welcome(server, name):
    assert (await register(server, name + "_" + tag()))[0] == 201


@pytest.mark.parametrize(("first", "second"), [
    ("\u00c9mile", "\u00e9mile"),          # É / é: UPPER() on SQLite leaves them apart
    ("alice", "\uff41\uff4c\uff49\uff43\uff45"),  # fullwidth
    ("strasse", "STRA\u00dfE"),              # ß folds to ss
], ids=["accented-case", "fullwidth", "sharp-s"])
async def test_variants_of_a_taken_name_are_taken(server, first, second):
    suffix = tag()
    status, body = await register(server, first + suffix)
    assert status == 201, body

    status, body = await register(server, second + suffix)

    assert status == 400
    assert body["username"] == ["A user with that username already exists."]


async def test_a_decomposed_spelling_is_refused(server):
    # A combining mark is not a letter of the username alphabet (the schema's pattern
    # says so too), so "e" + U+0301 never becomes a second "é".
    suffix = tag()
    assert (await register(server, f"\u00e9mile{suffix}"))[0] == 201

    status, body = await register(server, f"e\u0301mile{suffix}")

    assert status == 400
    assert "username" in body


async def test_login_and_search_find_a_user_by_any_variant(server):
    suffix = tag()
    status, created = await register(server, f"\u00c9mile{suffix}z")
    assert status == 201

    status, body = await login(server, f"\u00e9MILE{suffix}Z")
    assert status == 200
    assert body["user"]["id"] == created["id"]

    viewer = await make_user(server.base_url)
    for prefix in (f"\u00e9mile{suffix}", f"\u00c9MILE{suffix}"):
        path = "/api/users/?search=" + urllib.parse.quote(prefix)
        status, found = await ahttp(server.base_url, "GET", path, token=viewer.token)
        assert status == 200
        assert [u["id"] for u in found] == [created["id"]]


async def test_concurrent_registrations_of_variants_make_one_account(server):
    suffix = tag()
    variants = [f"\u00c9mile{suffix}", f"\u00e9mile{suffix}", f"\u00c9MILE{suffix}",
                f"e\u0301mile{suffix}", f"\u00e9MiLe{suffix}"] * 2

    results = await asyncio.gather(*[register(server, name) for name in variants])

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [400] * (len(variants) - 1), results
