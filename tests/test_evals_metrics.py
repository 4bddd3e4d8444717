"""Metric arithmetic on hand-checked cases, so the numbers in a report can be trusted."""

from __future__ import annotations

import math

import pytest

from evals.metrics import (
    average_precision_at,
    bootstrap,
    confusion,
    harness_facts,
    hit_at,
    mean_of,
    recall_at,
    reciprocal_rank,
)


def test_ranking_metrics_by_hand() -> None:
    ranked = ["a", "x", "b", "y", "c"]
    gold = {"a", "b", "z"}
    assert hit_at(ranked, gold, 1) == 1.0 and hit_at(["x"], gold, 1) == 0.0
    assert recall_at(ranked, gold, 3) == pytest.approx(2 / 3)
    assert reciprocal_rank(["x", "y", "b"], gold) == pytest.approx(1 / 3)
    # trec_eval map_cut_10: (1/1 + 2/3) / |gold| with one relevant item never retrieved.
    assert average_precision_at(ranked, gold, 10) == pytest.approx((1 + 2 / 3) / 3)
    assert average_precision_at(ranked, gold, 1) == pytest.approx(1 / 3)


def test_mcc_and_confusion_by_hand() -> None:
    truth = [True] * 6 + [False] * 4
    pred = [True, True, True, True, False, False, True, False, False, False]
    c = confusion(truth, pred)
    assert (c.tp, c.fn, c.fp, c.tn) == (4, 2, 1, 3)
    assert c.mcc == pytest.approx((4 * 3 - 1 * 2) / math.sqrt(5 * 6 * 4 * 5))
    assert c.precision == pytest.approx(0.8) and c.recall == pytest.approx(4 / 6)
    # A classifier that says "yes" to everything has MCC 0, however imbalanced the set.
    assert confusion([True] * 9 + [False], [True] * 10).mcc == 0.0


def test_bootstrap_interval_brackets_the_value_and_narrows_with_n() -> None:
    small = [{"x": float(i % 2)} for i in range(20)]
    large = [{"x": float(i % 2)} for i in range(2000)]
    a, b = bootstrap(small, mean_of("x")), bootstrap(large, mean_of("x"))
    assert a is not None and b is not None
    assert a.low <= 0.5 <= a.high and b.low <= 0.5 <= b.high
    assert (b.high - b.low) < (a.high - a.low) / 5
    assert bootstrap([{"y": 1}], mean_of("x")) is None


def test_harness_facts_are_its_own() -> None:
    assert harness_facts("Within 30 days under 21 CFR 820.70(i), see section 4.2 and 12.5%.") == [
        "30",
        "21",
        "820.70(i)",
        "section 4.2",
        "12.5%",
    ]
