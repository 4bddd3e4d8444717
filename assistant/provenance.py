"""Documents of unknown provenance do not speak for themselves.

An upload whose issuing body and status nobody stated is stored with status "unknown" (its own text never
sets them: a heading "(EMA, final)" is not evidence of either). When such a document says the opposite of a
document of known provenance on the same point, the answer is refused as conflicting sources, quoting both,
rather than repeating the newcomer as fact. Without an entailment model, "the opposite" is what can be read
off the words: one negated and the other not, or different amounts of the same unit.
"""

from __future__ import annotations

from collections.abc import Sequence

from assistant.sentences import sentence_spans
from assistant.types import Citation, Claim, Evidence
from assistant.verify import UNIT_NUMBER, negated, spell_out_numbers
from ingest.lexical import tokenize

UNVERIFIED = "unknown"
# Share of the claim's content words a sentence must hold to be on the same point (set by hand; the
# planted-document test and the bundled corpus, where no two documents of known provenance are compared).
SAME_POINT = 0.5


def _words(text: str) -> set[str]:
    return {w for w in tokenize(text) if not w.isdigit()}


def _coverage(claim: set[str], sentence: set[str]) -> float:
    """Share of the claim's words in the sentence; a stem matches its prefix, so a word that the PDF's text
    layer split ("evalua ted") still counts."""
    hit = sum(
        1 for w in claim if w in sentence or any(len(x) >= 4 and (w.startswith(x) or x.startswith(w)) for x in sentence)
    )
    return hit / max(1, len(claim))


def _amounts(text: str) -> dict[str, str]:
    return {unit.lower().rstrip("s"): value for value, unit in UNIT_NUMBER.findall(spell_out_numbers(text))}


def disagree(a: str, b: str) -> bool:
    """Whether two sentences on the same point say opposite things: negation, or another amount of a unit."""
    if negated(a) != negated(b):
        return True
    x, y = _amounts(a), _amounts(b)
    return any(unit in y and y[unit] != value for unit, value in x.items())


def unverified_conflict(
    supported: Sequence[Claim], citations: Sequence[Citation], evidence: Sequence[Evidence]
) -> str | None:
    """A refusal message when a claim resting on an unverified document contradicts a verified one."""
    by_n = {c.n: c for c in citations}
    for claim in supported:
        cites = [by_n[n] for n in claim.citations if n in by_n]
        shaky = [c for c in cites if c.status == UNVERIFIED]
        if not shaky:
            continue
        words = _words(claim.text)
        own = {c.document_id for c in cites}
        best: tuple[float, str, str, int] | None = None
        for e in evidence:
            for chunk in e.chunks:
                if chunk.document_id in own or chunk.meta.status == UNVERIFIED:
                    continue
                for s, t in sentence_spans(chunk.text):
                    sentence = " ".join(chunk.text[s:t].split())
                    overlap = _coverage(words, _words(sentence))
                    if best is None or overlap > best[0]:
                        best = (overlap, sentence, chunk.title, chunk.page_start)
        if best and best[0] >= SAME_POINT and disagree(claim.text, best[1]):
            return (
                f"Sources disagree: {shaky[0].file}, uploaded without a stated issuing body or status, says "
                f"“{claim.text}”, but {best[2]} (page {best[3]}) says “{best[1]}”."
            )
    return None
