"""Follow-up questions in a conversation: detect one, and make it a question that stands alone.

"And for paper records?" means nothing to a search engine. Asked after "How long must audit trail records
be kept under Annex 11?", it means "how long must paper audit trail records be kept under Annex 11". Without
an LLM, the follow-up is detected by its form (it opens with "and", "what about"; it leans on a pronoun; it
is too short to stand alone) and the previous turn's subject terms are carried into its query, and its
search is first confined to the documents the previous answer drew on. A follow-up that names another
regulator ("and the FDA?") keeps the subject but leaves the previous documents behind, and the answer says
that it moved. With an LLM backend, the model rewrites the follow-up with the conversation's history first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ingest.lexical import tokenize

# How a question names a regulator -> the issuing body the catalog records for its documents.
BODY_NAMES = {
    "EMA": "EMA",
    "European Medicines Agency": "EMA",
    "FDA": "FDA",
    "CDER": "FDA",
    "CBER": "FDA",
    "MHRA": "MHRA",
    "ICH": "ICH",
    "Annex 11": "European Commission",
    "EU GMP": "European Commission",
    "European Commission": "European Commission",
}
_BODY = re.compile(r"\b(" + "|".join(re.escape(b) for b in sorted(BODY_NAMES, key=len, reverse=True)) + r")\b")
# A question that opens like this continues the one before: "And for paper records?", "What about SOPs?".
_OPENERS = re.compile(
    r"^\s*(?:and|but|also|so|then|what about|how about|what if|same for|and what about|and for|"
    r"ok(?:ay)?|what else|anything else|in that case|if so)\b",
    re.IGNORECASE,
)
# Phrases that compare with, or point back at, what was just discussed: "the FDA equivalent", "the same
# thing", "anything similar", "on this".
_POINTERS = re.compile(
    r"\b(?:the same|equivalent|similar(?:ly)?|likewise|as well|too|compared?|in comparison|"
    r"(?:on|about|for|with|of|to) (?:this|that|these|those|it|them))\b",
    re.IGNORECASE,
)
# Words that point back at the previous turn's subject.
_ANAPHORS = {"it", "its", "they", "them", "their", "this", "these", "those", "such", "there", "that", "he", "she"}
# "That" is a pronoun in "who approves that?", a conjunction in "does FDA expect that records are...".
_THAT_POINTS = re.compile(r"\b(?:that|this|these|those)\s*(?:[?.!,]|$|one|record|document|guidance|requirement)")
# Words that carry no subject of their own: question words, auxiliaries and the like.
_EMPTY = {
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "when",
    "where",
    "why",
    "how",
    "does",
    "do",
    "did",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "can",
    "could",
    "should",
    "would",
    "must",
    "may",
    "might",
    "shall",
    "will",
    "the",
    "a",
    "an",
    "of",
    "for",
    "to",
    "in",
    "on",
    "at",
    "by",
    "with",
    "about",
    "and",
    "or",
    "but",
    "also",
    "say",
    "says",
    "said",
    "expect",
    "expects",
    "need",
    "needs",
    "required",
    "require",
    "requires",
    "there",
    "any",
    "much",
    "many",
    "long",
    "often",
    "else",
    "same",
    "then",
    "so",
    "if",
    "case",
    "ok",
    "okay",
    "under",
    "according",
    "regarding",
    "guidance",
    "document",
    "documents",
    "regulator",
    "regulators",
    "me",
    "we",
    "us",
    "our",
    "you",
    "i",
    "tell",
    "explain",
    "mean",
    "means",
    "it",
    "its",
    "they",
    "them",
    "their",
    "this",
    "that",
    "these",
    "those",
    "such",
    "he",
    "she",
    "have",
    "has",
    "get",
    "one",
    "ones",
    "just",
    "than",
    "from",
    "as",
} | _ANAPHORS
# A question with at most this many subject words leans on the one before when it has a pronoun.
_SHORT = 6
_CARRIED = 10
# A follow-up with at most this many subject words of its own leans on the previous subject entirely.
_LEANS = 1


def bodies_named(question: str) -> list[str]:
    """The issuing bodies a question names, in order ("Annex 11" names the European Commission)."""
    return list(dict.fromkeys(BODY_NAMES[m] for m in _BODY.findall(question)))


def subject_words(text: str) -> list[str]:
    """The words of a question that say what it is about, in order, without question words and pronouns."""
    words = re.findall(r"[A-Za-z0-9][A-Za-z0-9'’-]*", text)
    return list(dict.fromkeys(w for w in words if w.lower() not in _EMPTY and len(w) > 1))


def is_follow_up(question: str) -> bool:
    """Whether a question leans on the one before: it opens with "and"/"what about", compares with or
    points back at what was said ("the same", "the FDA equivalent", "on this"), leans on a pronoun and
    names little of its own, or is too short to stand alone."""
    q = question.strip()
    if _OPENERS.match(q) or _POINTERS.search(q):
        return True
    own = subject_words(q)
    lowered = {w.lower() for w in re.findall(r"[A-Za-z']+", q)}
    pointing = bool(lowered & (_ANAPHORS - {"that", "this", "these", "those"})) or bool(_THAT_POINTS.search(q.lower()))
    if pointing and len(own) <= _SHORT:
        return True
    # Too short to stand alone: "Is replying actually mandatory?"
    return len(own) <= 2 or len(re.findall(r"\S+", q)) <= 5


@dataclass(frozen=True)
class Turn:
    """What a previous turn leaves for the next: its standalone query, and the documents its answer drew on."""

    query: str
    document_ids: tuple[str, ...] = ()
    # The regulator the turn was about (the one its question named, else those its answer cited), and
    # the issuing bodies its answer cited.
    bodies: tuple[str, ...] = ()
    cited_bodies: tuple[str, ...] = ()


@dataclass
class Resolved:
    """A question as it is searched: standalone, with what it took from the conversation."""

    question: str
    query: str
    follow_up: bool = False
    carried_terms: list[str] = field(default_factory=list)
    document_ids: tuple[str, ...] = ()
    switched_to: tuple[str, ...] = ()
    previous_bodies: tuple[str, ...] = ()
    previous_cited: tuple[str, ...] = ()
    condensed_by: str = ""
    # Whether it names (almost) no subject of its own ("who approves it?"), so that its answer is chosen
    # for the carried subject too, not only searched with it.
    leans: bool = False

    def to_dict(self) -> dict[str, Any]:
        """What the answer record keeps about the context ("searched.context")."""
        out: dict[str, Any] = {"follow_up": self.follow_up, "query": self.query}
        if self.carried_terms:
            out["carried_terms"] = self.carried_terms
        if self.document_ids:
            out["documents"] = list(self.document_ids)
        if self.previous_bodies:
            out["previous_bodies"] = list(self.previous_bodies)
        if self.previous_cited:
            out["previous_cited"] = list(self.previous_cited)
        if self.switched_to:
            out["switched_to"] = list(self.switched_to)
        if self.condensed_by:
            out["condensed_by"] = self.condensed_by
        return out


def resolve(question: str, previous: Turn | None) -> Resolved:
    """The question as it should be searched, given the previous turn (None: the first turn)."""
    if previous is None or not is_follow_up(question):
        return Resolved(question, question)
    own = {w.lower() for w in subject_words(question)}
    named = bodies_named(question)
    carried = [w for w in subject_words(previous.query) if w.lower() not in own]
    switched = tuple(b for b in named if b not in previous.bodies)
    body_words = {w.lower() for n in BODY_NAMES for w in n.split()}
    if named:
        # The follow-up names its regulator: the previous one's name ("FDA's", "Annex 11") is not carried.
        carried = [w for w in carried if re.sub(r"['’]s$", "", w).lower() not in body_words]
    carried = carried[:_CARRIED]
    # It names no subject of its own, or points back at the previous one ("the same thing", "on this").
    leans = len([w for w in own if w not in body_words]) <= _LEANS or bool(_POINTERS.search(question))
    query = question.rstrip()
    if carried:
        query = f"{query} ({' '.join(carried)})"
    return Resolved(
        question,
        query,
        follow_up=True,
        carried_terms=carried,
        # A follow-up that moves to another regulator leaves the previous answer's documents behind.
        document_ids=() if switched else previous.document_ids,
        switched_to=switched,
        leans=leans,
        previous_bodies=previous.bodies,
        previous_cited=previous.cited_bodies,
    )


def moved(context: dict[str, Any], answer_bodies: list[str]) -> str | None:
    """The sentence that tells a reader the answer moved to another regulator's documents, or None.

    A follow-up that named another regulator moved if its answer left the previous subject's regulator
    behind; one that named none moved if its answer cites none of the bodies the previous turn was about or
    cited (a follow-up on Annex 11 answered from FDA's guidance must say so)."""
    about = list(context.get("previous_bodies", ()))
    if not about or not answer_bodies:
        return None
    if context.get("switched_to"):
        stayed = set(answer_bodies) & set(about)
    else:
        stayed = set(answer_bodies) & (set(about) | set(context.get("previous_cited", ())))
    if stayed:
        return None
    return (
        f"This answer draws on {_names(answer_bodies)} documents; "
        f"the previous answer in this conversation was about {_names(about)} documents."
    )


def _names(bodies: list[str]) -> str:
    return bodies[0] if len(bodies) == 1 else ", ".join(bodies[:-1]) + " and " + bodies[-1]


CONDENSE_SYSTEM = """You rewrite a follow-up question from a conversation about regulatory guidance so that it
can be understood without the conversation. Keep the user's meaning, name the subject and any regulator or
document the conversation was about, and add nothing else. Reply with the rewritten question only, on one line."""


def condense_messages(history: list[tuple[str, str]], question: str) -> list[tuple[str, str]]:
    """(role, content) pairs asking a chat model to rewrite a follow-up; history is (question, answer) pairs."""
    lines = []
    for q, a in history[-3:]:
        lines.append(f"User: {q}")
        lines.append(f"Assistant: {a[:600]}")
    user = "Conversation:\n" + "\n".join(lines) + f"\n\nFollow-up question: {question}\n\nStandalone question:"
    return [("system", CONDENSE_SYSTEM), ("user", user)]


def usable_condensed(text: str, question: str) -> str | None:
    """The model's rewrite, if it is one question of sensible length that keeps the follow-up's own words."""
    line = text.strip().splitlines()[0].strip().strip('"') if text.strip() else ""
    if not line or len(line) > 400 or len(line) < len(question) // 2:
        return None
    own = set(tokenize(question))
    kept = set(tokenize(line))
    return line if not own or len(own & kept) >= max(1, len(own) // 2) else None
