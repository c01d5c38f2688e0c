"""The knee of a stepped load: the highest offered rate that is still kept up with.

Pure arithmetic over the figures of each step, no I/O, so the rule is tested on its own
(tests/bench/test_knee.py). `group_knee` (bench/scenarios/group_knee.py) measures the
steps; this module says which of them count.

A step *keeps up* when both hold:

- its delivered rate is at least `min_share` (95 %) of the offered rate: deliveries
  over the step's first to last delivery, so a queue that grows during the step, or
  a long tail after it, pulls the figure down, while the constant delay from a send
  to its first delivery (which would mark a short step down) does not;
- every delivery it owes arrived within the bounded drain that follows its last send
  (`drained`): a step may not borrow time from the next one.

The steps run in increasing order of rate and the scenario stops after the first step
that falls behind, so the knee is the last step of the leading run of steps that keep
up: the highest rate the server sustained. None when even the first step fell behind.
`max_deliveries_per_s` is the best delivered rate of any step, the one that fell
behind included: past the knee that is the rate the server delivers while saturated.

The offer is the nominal one (`rate` times the other members). The generator shares
the machine with the server, and when its loop is busy reading deliveries it sends
late: a step whose own send pace (`sent_per_s`) stayed below `min_share` of its rate
is *generator-bound*, and `generator_bound` says whether the step that fell behind
was, in which case the knee is the generator's as much as the server's.
"""

from __future__ import annotations

MIN_SHARE = 0.95


def keeps_up(step: dict, min_share: float = MIN_SHARE) -> bool:
    offered = step.get("offered_deliveries_per_s")
    delivered = step.get("deliveries_per_s")
    if not offered or delivered is None or not step.get("drained"):
        return False
    return delivered >= min_share * offered


def generator_bound(step: dict, min_share: float = MIN_SHARE) -> bool:
    sent = step.get("sent_per_s")
    return sent is not None and sent < min_share * step["rate"]


def knee(steps: list[dict], min_share: float = MIN_SHARE) -> dict:
    """The knee and the best rate of `steps` (in the order they ran)."""
    best = None
    for step in steps:
        if not keeps_up(step, min_share):
            break
        best = step
    behind = next((s for s in steps if not keeps_up(s, min_share)), None)
    rates = [s["deliveries_per_s"] for s in steps if s.get("deliveries_per_s") is not None]
    return {
        "knee_rate": best["rate"] if best else None,
        "knee_deliveries_per_s": best["deliveries_per_s"] if best else None,
        "max_deliveries_per_s": max(rates) if rates else None,
        "saturated": behind is not None,
        "generator_bound": behind is not None and generator_bound(behind, min_share),
    }


def share(value: float | None, reference: float | None) -> float | None:
    """`value` over the relay's `reference`, or None when either is missing."""
    if not value or not reference:
        return None
    return round(value / reference, 4)
