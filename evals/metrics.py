"""Metrics over per-question records, each with a bootstrap confidence interval.

Everything here is offline and deterministic: a record is what the runner stored for one question
(see `evals.runner.score_question`), and every metric is a function of a list of records, so the
bootstrap simply re-computes it on resampled lists.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Hashable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

Record = dict[str, Any]

# The harness's own notion of a hard fact, written independently of assistant.verify so that the two
# hallucination rates are two opinions, not one: numbers (with decimals, ranges and percentages),
# section and article references, and regulation citations such as 21 CFR 820.70(i).
_FACT = re.compile(
    r"\b\d+(?:[.,]\d+)*(?:\([a-z0-9]+\))*%?"
    r"|\b(?:section|article|annex|chapter|part)\s+[0-9IVXivx]+(?:\.\d+)*",
    re.IGNORECASE,
)


def harness_facts(text: str) -> list[str]:
    """Numbers, dates' numbers and references in `text`, as the harness checks them."""
    return list(dict.fromkeys(m.group(0).lower().rstrip(".,") for m in _FACT.finditer(text)))


def normalise(text: str) -> str:
    """Whitespace collapsed, for comparing quotes with page text."""
    return " ".join(text.split())


# --- ranking metrics --------------------------------------------------------------------------
def dedupe(items: Sequence[Hashable]) -> list[Hashable]:
    """Keep first occurrences, in order."""
    return list(dict.fromkeys(items))


def hit_at(ranked: Sequence[Any], gold: AbstractSet[Any], k: int) -> float:
    """1 if any of the first k is relevant."""
    return float(any(r in gold for r in ranked[:k]))


def recall_at(ranked: Sequence[Any], gold: AbstractSet[Any], k: int) -> float:
    """Share of the relevant items found in the first k."""
    return len(set(ranked[:k]) & gold) / len(gold) if gold else 0.0


def reciprocal_rank(ranked: Sequence[Any], gold: AbstractSet[Any]) -> float:
    """1 / rank of the first relevant item, 0 when none is retrieved."""
    for i, r in enumerate(ranked, start=1):
        if r in gold:
            return 1.0 / i
    return 0.0


def average_precision_at(ranked: Sequence[Any], gold: AbstractSet[Any], k: int = 10) -> float:
    """AP@k as trec_eval's map_cut computes it: precision at each relevant rank up to k, over |gold|."""
    if not gold:
        return 0.0
    found, total = 0, 0.0
    for i, r in enumerate(ranked[:k], start=1):
        if r in gold:
            found += 1
            total += found / i
    return total / len(gold)


# --- classification --------------------------------------------------------------------------
@dataclass(frozen=True)
class Confusion:
    """A 2x2 confusion matrix; 'positive' is named by whoever builds it."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.n if self.n else 0.0

    @property
    def mcc(self) -> float:
        """Matthews correlation coefficient; 0 when a row or column is empty (the usual convention)."""
        den = math.sqrt((self.tp + self.fp) * (self.tp + self.fn) * (self.tn + self.fp) * (self.tn + self.fn))
        return (self.tp * self.tn - self.fp * self.fn) / den if den else 0.0

    def to_dict(self) -> dict[str, float]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "accuracy": self.accuracy,
            "mcc": self.mcc,
        }


def confusion(truth: Sequence[bool], predicted: Sequence[bool]) -> Confusion:
    """Count a confusion matrix from parallel lists of labels."""
    pairs = list(zip(truth, predicted, strict=True))
    return Confusion(
        tp=sum(t and p for t, p in pairs),
        fp=sum((not t) and p for t, p in pairs),
        fn=sum(t and (not p) for t, p in pairs),
        tn=sum((not t) and (not p) for t, p in pairs),
    )


# --- bootstrap -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    """A metric's value on the whole set with a percentile bootstrap interval; n is how many items it used."""

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}


def bootstrap(
    records: Sequence[Record],
    metric: Callable[[Sequence[Record]], float | None],
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Estimate | None:
    """The metric on `records` and its percentile bootstrap interval; None when it is undefined."""
    value = metric(records)
    if value is None:
        return None
    rng = random.Random(seed)
    stats: list[float] = []
    for _ in range(resamples):
        sample = [records[rng.randrange(len(records))] for _ in records]
        v = metric(sample)
        if v is not None:
            stats.append(v)
    stats.sort()
    if not stats:
        return Estimate(value, value, value, len(records))
    lo = stats[int((1 - level) / 2 * (len(stats) - 1))]
    hi = stats[int((1 + level) / 2 * (len(stats) - 1))]
    return Estimate(value, lo, hi, len(records))


def mean_of(key: str, where: Callable[[Record], bool] = lambda r: True) -> Callable[[Sequence[Record]], float | None]:
    """A metric: the mean of `record[key]` over records that pass `where` and have the key set."""

    def metric(records: Sequence[Record]) -> float | None:
        xs = [r[key] for r in records if where(r) and r.get(key) is not None]
        return sum(xs) / len(xs) if xs else None

    return metric


def ratio_of(
    num: str, den: str, where: Callable[[Record], bool] = lambda r: True
) -> Callable[[Sequence[Record]], float | None]:
    """A metric: sum of `num` over sum of `den` (micro-average, e.g. unsupported claims over all claims)."""

    def metric(records: Sequence[Record]) -> float | None:
        d = sum(r.get(den) or 0 for r in records if where(r))
        return sum(r.get(num) or 0 for r in records if where(r)) / d if d else None

    return metric


def abstention_confusion(records: Sequence[Record]) -> Confusion:
    """Positive = the documents do not answer (should abstain); predicted positive = the assistant abstained."""
    return confusion([not r["answerable"] for r in records], [r["abstained"] for r in records])


def percentile(xs: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    s = sorted(xs)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)
