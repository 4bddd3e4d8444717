"""Follow-up chains: conversations of two or three turns, and what a follow-up needs from its context.

Each later turn is scored in its conversation and, for comparison, asked alone:
- right documents: answered, and citing a gold document;
- context carried: a gold page among the first five passages retrieved;
- key facts: the share of the turn's key facts in the answer;
- switch noticed: a turn that moves to another regulator's documents says so; a turn that stays never does;
- fresh questions: a later turn that stands alone is not read as a follow-up.

The set (`evals/sets/followups.jsonl`) was written from the documents by a session that had not seen the
follow-up code, and split once by a hash of each chain id into dev and test, before the first run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.questions import SETS_DIR, Gold, QuestionSetError

FOLLOWUPS = SETS_DIR / "followups.jsonl"


@dataclass(frozen=True)
class FollowTurn:
    """One turn of a chain: its question, gold passages and key facts, and what kind of turn it is."""

    question: str
    evidence: tuple[Gold, ...]
    key_facts: tuple[str, ...]
    follow_up: bool
    switch: bool


@dataclass(frozen=True)
class Chain:
    """A conversation: a standalone first question, then one or two more."""

    id: str
    turns: tuple[FollowTurn, ...]


def part_of(chain_id: str) -> str:
    """'dev' or 'test': the first byte of the SHA-256 of the chain id, below 128 or not (fixed once)."""
    return "dev" if hashlib.sha256(chain_id.encode()).digest()[0] < 128 else "test"


def _turn(obj: Any, where: str) -> FollowTurn:
    if not isinstance(obj, dict):
        raise QuestionSetError(f"{where} must be an object")
    for field, typ in (
        ("question", str),
        ("evidence", list),
        ("key_facts", list),
        ("follow_up", bool),
        ("switch", bool),
    ):
        if not isinstance(obj.get(field), typ):
            raise QuestionSetError(f"{where}: field '{field}' must be {typ.__name__}")
    gold = []
    for i, e in enumerate(obj["evidence"]):
        w = f"{where}.evidence[{i}]"
        if not isinstance(e, dict) or not isinstance(e.get("file"), str) or not isinstance(e.get("page"), int):
            raise QuestionSetError(f"{w}: needs 'file' (text), 'page' (a number) and 'quote'")
        gold.append(Gold(e["file"], e["page"], str(e.get("quote", ""))))
    if not gold:
        raise QuestionSetError(f"{where}: field 'evidence' needs at least one passage")
    if obj["switch"] and not obj["follow_up"]:
        raise QuestionSetError(f"{where}: a 'switch' turn is a follow-up too")
    return FollowTurn(obj["question"], tuple(gold), tuple(map(str, obj["key_facts"])), obj["follow_up"], obj["switch"])


def load_chains(path: Path = FOLLOWUPS, part: str | None = None) -> list[Chain]:
    """The chains of a file (or of its 'dev' or 'test' part), validated with errors naming line and field."""
    chains: list[Chain] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionSetError(f"{where}: not valid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not isinstance(obj.get("turns"), list):
            raise QuestionSetError(f"{where}: needs 'id' (text) and 'turns' (a list)")
        if obj["id"] in seen:
            raise QuestionSetError(f"{where}: duplicate id {obj['id']!r}")
        seen.add(obj["id"])
        turns = tuple(_turn(t, f"{where}: turns[{i}]") for i, t in enumerate(obj["turns"]))
        if len(turns) < 2 or turns[0].follow_up:
            raise QuestionSetError(f"{where}: a chain needs a standalone first turn and at least one more")
        chains.append(Chain(obj["id"], turns))
    return [c for c in chains if part is None or part_of(c.id) == part]


def _pages(answer: Any) -> list[tuple[str, int]]:
    out = []
    for e in answer.retrieval[:5]:
        for c in e.chunks:
            out += [(c.file, p) for p in range(c.page_start, c.page_end + 1)]
    return out


def _score(answer: Any, turn: FollowTurn) -> dict[str, Any]:
    files = {g.file for g in turn.evidence}
    cited = {c.file for c in answer.citations}
    pages = set(_pages(answer))
    text = answer.answer.lower()
    context = answer.searched.get("context") or {}
    return {
        "answered": not answer.abstained,
        "right_documents": not answer.abstained and bool(cited & files),
        "page_hit@5": any((g.file, g.page) in pages for g in turn.evidence),
        "key_facts": (
            sum(f.lower() in text for f in turn.key_facts) / len(turn.key_facts)
            if turn.key_facts and not answer.abstained
            else 0.0
        ),
        "read_as_follow_up": bool(context.get("follow_up")),
        "noticed_move": bool(context.get("moved")),
        "cited": sorted(cited),
    }


def run(assistant: Any, chains: list[Chain]) -> dict[str, Any]:
    """Ask every chain in its conversation, and each later turn alone too; per-turn rows and the metrics."""
    rows: list[dict[str, Any]] = []
    for chain in chains:
        previous = None
        history: list[tuple[str, str]] = []
        for i, turn in enumerate(chain.turns):
            answer = assistant.ask(turn.question, None, previous, history)
            if i > 0:
                alone = assistant.ask(turn.question)
                rows.append(
                    {
                        "chain": chain.id,
                        "turn": i + 1,
                        "question": turn.question,
                        "follow_up": turn.follow_up,
                        "switch": turn.switch,
                        "in_context": _score(answer, turn),
                        "alone": _score(alone, turn),
                    }
                )
            previous = assistant.turn(answer.to_dict())
            history.append((turn.question, answer.answer))
    return {"rows": rows, "metrics": metrics(rows)}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The follow-up metrics, in context and alone, over the later turns of the chains."""
    follow = [r for r in rows if r["follow_up"]]
    switches = [r for r in follow if r["switch"]]
    stays = [r for r in follow if not r["switch"]]
    fresh = [r for r in rows if not r["follow_up"]]
    out: dict[str, Any] = {"follow_ups": len(follow), "switches": len(switches), "fresh": len(fresh)}
    for mode in ("in_context", "alone"):
        out[mode] = {
            "right_documents": _mean([float(r[mode]["right_documents"]) for r in follow]),
            "page_hit@5": _mean([float(r[mode]["page_hit@5"]) for r in follow]),
            "key_facts": _mean([r[mode]["key_facts"] for r in follow]),
            "answered": _mean([float(r[mode]["answered"]) for r in follow]),
        }
    out["follow_ups_detected"] = _mean([float(r["in_context"]["read_as_follow_up"]) for r in follow])
    out["switch_noticed"] = _mean([float(r["in_context"]["noticed_move"]) for r in switches])
    out["false_move_notes"] = _mean([float(r["in_context"]["noticed_move"]) for r in stays])
    out["fresh_read_as_follow_up"] = _mean([float(r["in_context"]["read_as_follow_up"]) for r in fresh])
    out["fresh_right_documents"] = _mean([float(r["in_context"]["right_documents"]) for r in fresh])
    return out
