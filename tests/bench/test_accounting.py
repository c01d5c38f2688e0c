"""The harness's own correctness accounting: what counts as lost, duplicated, undelivered."""

from __future__ import annotations

from bench.accounting import Ledger, SeqSet, latency_summary, percentile
from bench.report import failures


def test_seqset_in_order_keeps_only_a_watermark():
    seen = SeqSet()
    assert all(seen.add(seq) for seq in range(1, 1001))
    assert seen.floor == 1000 and not seen.above
    assert not seen.add(500)
    assert not seen.add(1000)


def test_seqset_out_of_order_is_not_a_duplicate_but_a_repeat_is():
    seen = SeqSet()
    assert seen.add(3) and seen.add(1)
    assert seen.floor == 1 and seen.above == {3}
    assert not seen.add(3)
    assert seen.add(2)
    assert seen.floor == 3 and not seen.above


def test_seqset_can_start_above_one():
    seen = SeqSet(floor=41)
    assert not seen.add(41)
    assert seen.add(42) and seen.floor == 42


def test_lost_is_sent_minus_acked():
    ledger = Ledger()
    for i in range(5):
        ledger.on_send(f"m{i}", 0.0)
    for i in range(3):
        ledger.on_ack(f"m{i}", "p:1:2", i + 1, 0.001)
    ledger.on_error("rate_limited")
    summary = ledger.summary(expected_deliveries=ledger.acked)
    assert summary["sent"] == 5 and summary["acked"] == 3 and summary["lost"] == 2
    assert summary["errors"] == {"rate_limited": 1}
    assert summary["undelivered"] == 3  # acked, never pushed


def test_a_delivery_seen_twice_on_one_connection_is_a_duplicate():
    ledger = Ledger()
    ledger.on_send("m1", 0.0)
    ledger.on_ack("m1", "p:1:2", 1, 0.002)
    assert ledger.on_delivery("conn-a", "p:1:2", 1, "m1", 0.003)
    assert not ledger.on_delivery("conn-a", "p:1:2", 1, "m1", 0.004)
    # The same message on another connection (another member, another device) is not.
    assert ledger.on_delivery("conn-b", "p:1:2", 1, "m1", 0.004)
    summary = ledger.summary(expected_deliveries=2)
    assert summary["duplicates"] == 1
    assert summary["delivered"] == 2 and summary["undelivered"] == 0
    assert ledger.delivery_ms == [3.0, 4.0]


def test_two_acks_for_one_seq_or_one_id_are_duplicates():
    ledger = Ledger()
    for cid in ("a", "b"):
        ledger.on_send(cid, 0.0)
    ledger.on_ack("a", "g:9", 7, 0.001)
    ledger.on_ack("a", "g:9", 7, 0.001)  # the same ack twice
    ledger.on_ack("b", "g:9", 7, 0.001)  # another message under the same (channel, seq)
    assert ledger.acked == 1
    assert ledger.duplicates == 2
    assert ledger.lost == 1


def test_out_of_order_delivery_is_counted_but_not_a_duplicate():
    ledger = Ledger()
    for seq in (2, 1, 3):
        assert ledger.on_delivery("c", "p:1:2", seq, None, 0.0)
    assert ledger.duplicates == 0 and ledger.out_of_order == 1


def test_percentiles_and_summary():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([], 50) is None
    summary = latency_summary(list(reversed(values)), "x", quantiles=True)
    assert summary["x_p50"] == 50.0 and summary["x_max"] == 100.0
    assert len(summary["x_quantiles"]) == 101 and summary["x_samples"] == 100


def test_failures_name_loss_duplicates_and_errors_never_speed():
    records = [
        {"name": "p2p_throughput", "transport": "tcp", "store": "sqlite", "lost": 0,
         "duplicates": 0, "undelivered": 0, "acked_per_s": 1.0},
        {"name": "p2p_latency", "rate": 100, "transport": "ws", "store": "sqlite", "lost": 2,
         "duplicates": 0},
        {"name": "group_fanout", "transport": "tcp", "store": "postgresql", "lost": 0,
         "duplicates": 1, "undelivered": 3},
        {"name": "catch_up", "transport": "tcp", "store": "sqlite", "error": "boom"},
    ]
    problems = failures(records)
    assert len(problems) == 4
    assert any("lost = 2" in p for p in problems)
    assert any("duplicates = 1" in p for p in problems)
    assert any("undelivered = 3" in p for p in problems)
    assert any("boom" in p for p in problems)
