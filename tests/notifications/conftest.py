from __future__ import annotations

import pytest

from tests.notifications.fake_push import FakePush


@pytest.fixture
def push():
    fake = FakePush()
    yield fake
    fake.close()
