"""The percentile the signals benchmark reports for GET /v1/signals: nearest rank, so that
"p99" is a latency that at least 99% of the requests did not exceed."""

from __future__ import annotations

import random

import pytest

from tests.bench.signals_bench import nearest_rank


def test_the_p99_of_a_hundred_is_the_ninety_ninth() -> None:
    assert nearest_rank([float(v) for v in range(1, 101)], 99) == 99


@pytest.mark.parametrize(("n", "expected"), [(1, 1), (10, 10), (150, 149), (250, 248), (300, 297)])
def test_the_rank_is_rounded_up_never_down(n: int, expected: int) -> None:
    """ceil(0.99 n): with 150 timings the 149th; int(0.99 n) - 1 took the 148th."""
    values = [float(v) for v in range(1, n + 1)]
    random.Random(n).shuffle(values)  # any order
    assert nearest_rank(values, 99) == expected


def test_at_least_the_percentage_is_at_or_below_it() -> None:
    rng = random.Random(5)
    for n in range(1, 400):
        values = [rng.random() for _ in range(n)]
        p99 = nearest_rank(values, 99)
        assert sum(v <= p99 for v in values) >= 0.99 * n
        assert sum(v < p99 for v in values) < 0.99 * n  # and it is the smallest such value


def test_nothing_to_rank_is_an_error() -> None:
    with pytest.raises(ValueError, match="percentile"):
        nearest_rank([], 99)
