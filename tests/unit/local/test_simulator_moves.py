"""The devnet simulators' utilization moves stay inside what the protocols accept."""

from __future__ import annotations

import random

from tidewatch_local.devnet.simulator import utilization_move


def test_a_borrow_never_takes_aave_debt_past_98_percent_of_the_borrow_cap() -> None:
    # Given a reserve at 60 % utilization whose debt is just under its borrow cap
    rng = random.Random(1)
    supplied, cap = 10_000_000, 6_100_000
    for borrowed in range(5_900_000, 6_100_000, 10_000):
        # When the simulator picks its next moves
        for _ in range(50):
            up, amount = utilization_move(rng, supplied, borrowed, cap)
            # Then no borrow would pass the cap's 98 % (Aave's error 50, BORROW_CAP_EXCEEDED)
            assert not up or borrowed + amount <= cap * 0.98


def test_without_a_cap_it_keeps_utilization_between_40_and_95_percent() -> None:
    rng = random.Random(2)
    assert all(utilization_move(rng, 1_000, 300)[0] for _ in range(50))  # under 40 %: borrow
    assert not any(utilization_move(rng, 1_000, 960)[0] for _ in range(50))  # over 95 %: repay
