"""pytest fixtures that start real services."""

from __future__ import annotations

import os

import pytest

from tests.support.servers import MONGODB_BASE_ENV, Deployment, MongoServer, RedisServer


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_server():
    """A private MongoDB-protocol server (SecantusDB) for the whole run."""
    server = MongoServer()
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def _mongo_pass(request):
    """With IM_TEST_MONGODB=1 (the MongoDB pass of `make test`), every deployment the
    tests create stores its messages in a database of its own on a private server."""
    if os.environ.get("IM_TEST_MONGODB") != "1":
        yield
        return
    server = request.getfixturevalue("mongo_server")
    os.environ[MONGODB_BASE_ENV] = server.url("")
    yield
    os.environ.pop(MONGODB_BASE_ENV, None)


@pytest.fixture(scope="module", params=["memory", "redis"])
def deployment(request):
    """One imserver on the SQLite (or, in the PostgreSQL pass, PostgreSQL) database,
    once with the embedded in-process layer and once with Redis (layer, locator,
    presence, hot window)."""
    redis_url = request.getfixturevalue("redis_server").url(1) if request.param == "redis" else None
    dep = Deployment.create(redis_url=redis_url)
    dep.start_server()
    yield dep
    dep.close()


@pytest.fixture(scope="module")
def server(deployment):
    return deployment.servers[0]


@pytest.fixture(scope="module")
def cluster(redis_server):
    """Two imserver processes sharing a database and a private Redis."""
    dep = Deployment.create(redis_url=redis_server.url(0))
    dep.start_server()
    dep.start_server()
    yield dep
    dep.close()


def _deployments(redis_server):
    """A factory of deployments with their own settings, and their teardown."""
    made = []

    def factory(*, redis: bool = False, redis_db: int = 0, **extra_env) -> Deployment:
        dep = Deployment.create(
            redis_url=redis_server.url(redis_db) if redis else None,
            extra_env={k: str(v) for k, v in extra_env.items()},
        )
        made.append(dep)
        return dep

    yield factory
    for dep in made:
        dep.close()


@pytest.fixture
def make_deployment(redis_server):
    """Deployments torn down after the test."""
    yield from _deployments(redis_server)


@pytest.fixture(scope="module")
def deployment_factory_module(redis_server):
    """Deployments torn down with the module (to share a special server)."""
    yield from _deployments(redis_server)
