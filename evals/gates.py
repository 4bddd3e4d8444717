"""Thresholds written before a run, and comparison of two runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ingest.errors import RegassistError


class ThresholdsError(RegassistError):
    """The thresholds file is malformed or names an unknown metric."""


# The packaged thresholds file: the CI gate and the web service's evaluation runs use it.
THRESHOLDS = Path(__file__).parent / "thresholds.json"


def load_thresholds(path: Path, key: str = "metrics") -> dict[str, dict[str, float]]:
    """Read `{"metrics": {name: {"min": x} | {"max": x}}}` (the gate; `key="targets"` reads the optional,
    non-gating targets); errors name the file and the field."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ThresholdsError(f"{path}: cannot read thresholds ({exc})") from exc
    if key != "metrics" and isinstance(raw, dict) and key not in raw:
        return {}
    metrics = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(metrics, dict) or not metrics:
        raise ThresholdsError(f"{path}: needs a non-empty object '{key}'")
    for name, bound in metrics.items():
        if not isinstance(bound, dict) or not set(bound) <= {"min", "max"} or not bound:
            raise ThresholdsError(f'{path}: metrics.{name} must be {{"min": x}} and/or {{"max": x}}')
        for k, v in bound.items():
            if not isinstance(v, int | float):
                raise ThresholdsError(f"{path}: metrics.{name}.{k} must be a number")
    return metrics


def check_thresholds(summary: dict[str, Any], thresholds: dict[str, dict[str, float]]) -> list[str]:
    """The failures, one line each; empty when every threshold is met. A missing metric is a failure."""
    failures = []
    for name, bound in thresholds.items():
        m = summary["metrics"].get(name)
        if m is None:
            failures.append(f"{name}: not measured in this run")
            continue
        v = m["value"]
        if "min" in bound and v < bound["min"]:
            failures.append(f"{name} = {v:.3f} is below the minimum {bound['min']}")
        if "max" in bound and v > bound["max"]:
            failures.append(f"{name} = {v:.3f} is above the maximum {bound['max']}")
    return failures


def compare(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, tuple[Any, Any]]]:
    """Per-metric differences from run A to run B, and what changed in their versions.

    A metric regresses when B's value falls outside A's bootstrap interval on the bad side; it improves when
    it falls outside on the good side. Anything inside the interval is noise at this sample size.
    """
    rows = []
    ma, mb = a["summary"]["metrics"], b["summary"]["metrics"]
    for name in ma:
        if name not in mb:
            continue
        x, y = ma[name], mb[name]
        worse = y["value"] < x["low"] if x["higher_is_better"] else y["value"] > x["high"]
        better = y["value"] > x["high"] if x["higher_is_better"] else y["value"] < x["low"]
        rows.append(
            {
                "metric": name,
                "a": x["value"],
                "a_low": x["low"],
                "a_high": x["high"],
                "b": y["value"],
                "delta": y["value"] - x["value"],
                "verdict": "REGRESSION" if worse else ("improved" if better else "within interval"),
            }
        )
    va, vb = a["versions"], b["versions"]
    changed: dict[str, tuple[Any, Any]] = {}
    for key in sorted(set(va) | set(vb)):
        if key == "settings":
            for s in sorted(set(va.get(key, {})) | set(vb.get(key, {}))):
                if va.get(key, {}).get(s) != vb.get(key, {}).get(s):
                    changed[f"settings.{s}"] = (va.get(key, {}).get(s), vb.get(key, {}).get(s))
        elif va.get(key) != vb.get(key):
            changed[key] = (va.get(key), vb.get(key))
    if a["set"] != b["set"]:
        changed["set"] = (a["set"], b["set"])
    return rows, changed
