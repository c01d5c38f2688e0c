"""StateStore: the optional SQLite file of last seen seqs."""

from __future__ import annotations

import pytest

from imclient import Client, StateStore

pytestmark = pytest.mark.embedded


def test_positions_only_move_forward_and_survive_reopening(tmp_path):
    path = tmp_path / "state.db"
    store = StateStore(path)
    assert not store.initialized(7) and store.positions(7) == {}
    store.save(7, "p:1:7", 5)
    store.save(7, "p:1:7", 3)
    store.save_many(7, {"g:2": 10, "p:1:7": 6})
    store.save(8, "p:1:8", 1)  # another user in the same file stays apart
    store.mark_initialized(7)
    store.close()
    again = StateStore(path)
    assert again.initialized(7) and not again.initialized(8)
    assert again.positions(7) == {"p:1:7": 6, "g:2": 10}
    assert again.positions(8) == {"p:1:8": 1}
    again.close()


def test_a_generated_device_name_is_kept_in_the_state_file(tmp_path):
    path = tmp_path / "state.db"
    first = Client("http://127.0.0.1:1", state_path=path)
    second = Client("http://127.0.0.1:1", state_path=path)
    assert first.device == second.device and first.device.startswith("py-")
    assert Client("http://127.0.0.1:1").device != first.device
    assert Client("http://127.0.0.1:1", device="laptop", state_path=path).device == "laptop"
    for client in (first, second):
        client._store.close()
