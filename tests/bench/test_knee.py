"""group_knee's bookkeeping: the knee rule over step figures, the relay's shares, the
report row, the users and groups a run needs, and a tiny stepped run on the raw relay."""

from __future__ import annotations

import pytest

from bench.deploy import RelayServer
from bench.knee import generator_bound, keeps_up, knee
from bench.loadgen import run_scenario
from bench.report import failures, row, stores_table
from bench.run import add_relay_shares, apply_overrides, plan_users, relay_workloads
from bench.scenarios.group_knee import delivery_rate


def _step(rate: float, delivered: float, *, drained: bool = True, receivers: int = 499,
          sent: float | None = None) -> dict:
    return {"rate": rate, "offered_deliveries_per_s": rate * receivers,
            "sent_per_s": rate if sent is None else sent,
            "deliveries_per_s": delivered, "drained": drained}


def test_a_step_keeps_up_at_95_percent_of_the_offer_and_drained_in_time():
    assert keeps_up(_step(100, 0.95 * 49_900))
    assert not keeps_up(_step(100, 0.949 * 49_900))
    # Fast enough on average, but its tail did not arrive within the bounded drain.
    assert not keeps_up(_step(100, 49_900, drained=False))
    assert not keeps_up(_step(100, None))
    assert keeps_up(_step(100, 0.9 * 49_900), min_share=0.9)


def test_the_knee_is_the_last_step_before_the_first_that_falls_behind():
    steps = [_step(110, 54_800), _step(220, 109_000), _step(440, 150_000),
             # A later step that happened to keep up does not move the knee back up.
             _step(660, 329_000)]
    figures = knee(steps)
    assert figures["knee_rate"] == 220
    assert figures["knee_deliveries_per_s"] == 109_000
    # The best delivered rate counts the step that fell behind: the saturated rate.
    assert figures["max_deliveries_per_s"] == 329_000
    assert figures["saturated"] is True and figures["generator_bound"] is False


def test_a_step_the_generator_could_not_send_at_its_rate_is_behind_and_says_so():
    # 603 msg/s sent of 660 asked: the offer was not made, so the step does not count as
    # kept up, and the knee is marked as the generator's as much as the server's.
    steps = [_step(440, 213_000), _step(660, 286_766, sent=603.3)]
    figures = knee(steps)
    assert figures["knee_rate"] == 440 and figures["generator_bound"] is True
    assert generator_bound(steps[1]) and not generator_bound(steps[0])


def test_no_knee_when_the_first_step_falls_behind_and_a_cap_when_none_does():
    behind = knee([_step(110, 30_000), _step(220, 31_000, drained=False)])
    assert behind["knee_rate"] is None and behind["knee_deliveries_per_s"] is None
    assert behind["max_deliveries_per_s"] == 31_000
    capped = knee([_step(110, 54_800), _step(220, 109_000)])
    assert capped["knee_deliveries_per_s"] == 109_000 and capped["saturated"] is False
    assert capped["generator_bound"] is False
    assert knee([])["max_deliveries_per_s"] is None


def test_a_step_delivered_as_sent_reads_its_offer_and_a_queue_pulls_it_down():
    # 10 messages at 10 msg/s to 4 receivers, 50 ms from a send to its deliveries.
    assert delivery_rate(40, 10, first=0.05, last=0.95) == 40.0
    # The same messages, the last delivered a second late: a queue built up.
    assert delivery_rate(40, 10, first=0.05, last=1.95) == 18.9
    assert delivery_rate(0, 10, first=None, last=1.0) is None
    assert delivery_rate(4, 1, first=0.05, last=0.06) is None


def _knee_record(name: str, knee_rate, knee_rate_delivered, best, **extra) -> dict:
    steps = [{**_step(110, 54_800), "kept_up": True,
              "delivery_ms_p50": 20.0, "delivery_ms_p99": 40.0, "delivery_ms_max": 50.0},
             {**_step(220, best, drained=False, sent=200), "kept_up": False,
              "generator_bound": True}]
    return {"name": name, "transport": "tcp", "store": "sqlite", "layer": "memory",
            "members": 500, "knee_rate": knee_rate, "knee_deliveries_per_s": knee_rate_delivered,
            "max_deliveries_per_s": best, "saturated": True, "steps": steps,
            "lost": 0, "duplicates": 0, "undelivered": 0, **extra}


def test_server_records_get_their_share_of_the_relay_knee_and_max_per_transport():
    relay = {**_knee_record("raw_relay", 440, 200_000, 250_000), "workload": "group_knee",
             "store": "none", "layer": "none"}
    server = _knee_record("group_knee", 110, 54_800, 60_000, server_cpu=0.98)
    ws = {**_knee_record("group_knee", None, None, 20_000), "transport": "ws"}
    add_relay_shares([relay, server, ws])
    assert server["knee_share_of_relay"] == 0.274
    assert server["max_share_of_relay"] == 0.24
    assert "knee_share_of_relay" not in ws and "max_share_of_relay" not in ws  # no ws relay
    label, transport, store, throughput, latency, lost, dup, notes = row(server)
    assert label == "group_knee" and store == "sqlite"
    assert throughput == "knee 54,800 deliv/s (27% of relay), max 60,000 (24% of relay)"
    assert latency == "deliv at knee 20.0/40.0/50.0"
    assert notes.startswith(
        "500 members; msg/s 110 ok, 220 behind (60,000 of 109,780; generator sent 200/s)")
    assert "capped" not in notes and "server cpu 0.98" in notes
    assert row(ws)[3] == "knee: none (first step behind), max 20,000"
    assert row(relay)[0] == "raw_relay (group_knee)"
    assert row(relay)[7].startswith("500 members; msg/s 110 ok, 220 behind")
    assert not failures([relay, server, ws])
    lines = stores_table([{"scenarios": [relay, server]}]).splitlines()
    assert "| group_knee | tcp | knee deliveries/s | 54,800 |" in lines
    assert "| group_knee | tcp | delivery p99 ms at the knee | 40 |" in lines


def test_each_group_scenario_gets_a_group_and_users_of_its_own_per_transport():
    params = {"group_fanout": {"members": 5}, "group_knee": {"members": 7}}
    count, slices, groups = plan_users(params, ["group_fanout", "group_knee"], ["tcp", "ws"])
    assert count == 2 * (5 + 7)
    for scenario in ("group_fanout", "group_knee"):
        for transport in ("tcp", "ws"):
            start, size = slices[(scenario, transport)]
            assert groups[slices[("group", scenario, transport)]] == (start, size)
    assert len({g for g in groups}) == 4


def test_the_relay_runs_the_workloads_asked_for_and_rates_can_be_set():
    assert relay_workloads(["raw_relay", "group_knee"]) == ["group_knee"]
    assert relay_workloads(["raw_relay"]) == ["p2p_throughput", "group_fanout", "group_knee"]
    params = apply_overrides({"group_knee": {"rates": [110]}},
                             ["group_knee.rates=[50,100.5]", "group_knee.duration=2"])
    assert params["group_knee"] == {"rates": [50, 100.5], "duration": 2}


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    server = RelayServer(tmp_path_factory.mktemp("relay") / "relay.log")
    yield server
    server.stop()


def test_steps_on_the_relay_count_every_message_once_across_steps(relay):
    users = [[7000 + i, ""] for i in range(6)]
    spec = {"scenario": "group_knee", "transport": "tcp", "address": relay.tcp,
            "encoding": "json", "relay": True, "server_pid": relay.pid, "users": users,
            "groups": [7000],
            "params": {"members": 6, "rates": [20, 40], "duration": 0.25, "drain": 5,
                       "pause": 0}}
    result = run_scenario(spec)
    assert [s["rate"] for s in result["steps"]] == [20, 40]
    assert [s["delivered"] for s in result["steps"]] == [5 * 5, 10 * 5]
    assert all(s["drained"] for s in result["steps"])
    assert result["acked"] == result["sent"] == 15
    assert result["delivered"] == 15 * 5
    assert result["lost"] == result["duplicates"] == result["undelivered"] == 0
    assert result["max_deliveries_per_s"] == max(s["deliveries_per_s"] for s in result["steps"])
