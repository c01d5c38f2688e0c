"""Benchmark set-up data, created inside the server's Django (`manage.py shell -c`).

Thousands of users through REST would take minutes (and the login throttles), so the
bench creates them directly: one bulk insert of users sharing one precomputed
password hash, one bulk insert of knox tokens, and groups through the server's own
service (`group_create`). Run by bench/deploy.py as

    python manage.py shell -c "from bench.seed import main; main()"

with BENCH_SEED (a JSON spec) and BENCH_SEED_OUT (where to write the result) in the
environment of the deployment. The result: {"users": [[id, token], ...],
"groups": [id, ...]}, users in creation order.
"""

from __future__ import annotations

import json
import os


def main() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone
    from knox.models import AuthToken, get_digest_token
    from knox.settings import CONSTANTS, knox_settings

    from messaging.services.groups import group_create

    spec = json.loads(os.environ["BENCH_SEED"])
    prefix = spec["prefix"]
    count = int(spec["users"])
    User = get_user_model()
    password = make_password("bench password, never used to log in")
    with transaction.atomic():
        User.objects.bulk_create(
            [User(username=f"{prefix}{i}", password=password, display_name=f"bench {i}")
             for i in range(count)],
            batch_size=2000,
        )
    by_name = dict(
        User.objects.filter(username__startswith=prefix).values_list("username", "pk")
    )
    ids = [by_name[f"{prefix}{i}"] for i in range(count)]

    expiry = timezone.now() + knox_settings.TOKEN_TTL
    tokens: list[str] = []
    rows = []
    for uid in ids:
        digest, token = get_digest_token()
        tokens.append(token)
        rows.append(AuthToken(digest=digest, token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH],
                              user_id=uid, expiry=expiry))
    with transaction.atomic():
        AuthToken.objects.bulk_create(rows, batch_size=2000)

    groups = []
    for number, (start, size) in enumerate(spec.get("groups", [])):
        owner = User.objects.get(pk=ids[start])
        group = group_create(owner=owner, name=f"{prefix}group{number}",
                             member_ids=ids[start + 1 : start + size])
        groups.append(group.pk)

    with open(os.environ["BENCH_SEED_OUT"], "w") as out:
        json.dump({"users": [[uid, token] for uid, token in zip(ids, tokens, strict=True)],
                   "groups": groups}, out)
