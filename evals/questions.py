"""Question sets: one JSON object per line, validated with errors that name the file, line and field."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ingest.errors import RegassistError

Kind = Literal[
    "lookup", "procedure", "definition", "multi_part", "comparison", "multi_hop", "unanswerable", "false_premise"
]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]
SETS_DIR = Path(__file__).resolve().parent / "sets"


class QuestionSetError(RegassistError):
    """A question set file is malformed."""


@dataclass(frozen=True)
class Gold:
    """A passage that supports the reference answer: file, 1-based page and a verbatim quote."""

    file: str
    page: int
    quote: str


@dataclass(frozen=True)
class Question:
    """One curated question."""

    id: str
    question: str
    answerable: bool
    reference_answer: str
    evidence: tuple[Gold, ...]
    key_facts: tuple[str, ...]
    kind: str
    premise: str | None = None
    # Document titles and defined terms the question may repeat word for word (the paraphrase rule exempts them).
    fixed_terms: tuple[str, ...] = ()


def _need(obj: dict[str, Any], field: str, typ: type | tuple[type, ...], where: str) -> Any:
    if field not in obj:
        raise QuestionSetError(f"{where}: missing field '{field}'")
    if not isinstance(obj[field], typ):
        raise QuestionSetError(f"{where}: field '{field}' must be {getattr(typ, '__name__', typ)}")
    return obj[field]


def parse_question(obj: Any, where: str) -> Question:
    """Validate one decoded line."""
    if not isinstance(obj, dict):
        raise QuestionSetError(f"{where}: each line must be a JSON object")
    kind = _need(obj, "kind", str, where)
    if kind not in KINDS:
        raise QuestionSetError(f"{where}: field 'kind' must be one of {', '.join(KINDS)}, not {kind!r}")
    answerable = _need(obj, "answerable", bool, where)
    if answerable == (kind == "unanswerable"):
        raise QuestionSetError(f"{where}: field 'answerable' contradicts kind {kind!r}")
    evidence = []
    for i, e in enumerate(_need(obj, "evidence", list, where)):
        w = f"{where}: evidence[{i}]"
        if not isinstance(e, dict):
            raise QuestionSetError(f"{w} must be an object")
        page = _need(e, "page", int, w)
        if page < 1:
            raise QuestionSetError(f"{w}: field 'page' must be >= 1")
        evidence.append(Gold(_need(e, "file", str, w), page, _need(e, "quote", str, w)))
    if answerable and not evidence:
        raise QuestionSetError(f"{where}: an answerable question needs at least one 'evidence' passage")
    premise = obj.get("premise")
    if kind == "false_premise" and not premise:
        raise QuestionSetError(f"{where}: a false_premise question needs field 'premise'")
    return Question(
        id=_need(obj, "id", str, where),
        question=_need(obj, "question", str, where),
        answerable=answerable,
        reference_answer=_need(obj, "reference_answer", str, where),
        evidence=tuple(evidence),
        key_facts=tuple(_need(obj, "key_facts", list, where)),
        kind=kind,
        premise=premise,
        fixed_terms=tuple(obj.get("fixed_terms", ())),
    )


def load_questions(path: Path) -> list[Question]:
    """Read a `.jsonl` question set; a bad line raises an error naming file, line and field."""
    if not path.exists():
        raise QuestionSetError(f"{path}: no such question set")
    out: list[Question] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionSetError(f"{where}: not valid JSON ({exc.msg})") from exc
        q = parse_question(obj, where)
        if q.id in seen:
            raise QuestionSetError(f"{where}: duplicate id {q.id!r}")
        seen.add(q.id)
        out.append(q)
    if not out:
        raise QuestionSetError(f"{path}: no questions")
    return out


def resolve_set(name_or_path: str) -> Path:
    """A set by path, or by name under evals/sets (`bundled-test` → evals/sets/bundled-test.jsonl)."""
    p = Path(name_or_path)
    if p.exists():
        return p
    named = SETS_DIR / f"{name_or_path}.jsonl"
    if named.exists():
        return named
    raise QuestionSetError(f"{name_or_path}: no such file, and no set of that name in {SETS_DIR}")


_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def shared_runs(question: Question, n: int = 5) -> list[str]:
    """Runs of `n` or more words the question shares with one of its gold quotes, fixed terms aside.

    A question written in a person's own words shares no such run with the passage that answers it;
    one that copies the passage tests retrieval by string matching, not understanding.
    """
    text = question.question.lower()
    for term in sorted(question.fixed_terms, key=len, reverse=True):
        text = text.replace(term.lower(), " | ")
    asked = [_words(part) for part in text.split("|")]
    grams = {tuple(part[i : i + n]) for part in asked for i in range(len(part) - n + 1)}
    found = []
    for g in question.evidence:
        quote = _words(g.quote)
        found += [" ".join(quote[i : i + n]) for i in range(len(quote) - n + 1) if tuple(quote[i : i + n]) in grams]
    return list(dict.fromkeys(found))
