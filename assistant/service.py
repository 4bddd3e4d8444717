"""The assistant, wired in one place: retrieve, generate (extractive or LLM), verify, or refuse."""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from assistant import acronyms, decide, followup
from assistant.extractive import Pick, aliases, candidate_heads, definition_term, pick_sentences
from assistant.heads import HeadVectors
from assistant.llm import BackendError, ChatBackend, make_chat_model
from assistant.prompts import DECLINE, PROMPT_VERSION
from assistant.provenance import UNVERIFIED, unverified_conflict
from assistant.retrieval import Filters, HybridSearcher, RetrievalConfig
from assistant.sentences import normalise
from assistant.settings import AssistantSettings
from assistant.types import Answer, Citation, Claim, Evidence
from assistant.verify import UNIT_NUMBER, Support, Verifier, hard_facts, split_claims
from ingest.errors import RegassistError
from ingest.lexical import tokenize
from ingest.pipeline import Index
from ingest.types import Chunk

EXTRACTIVE_PROMPT_VERSION = "extractive-v1"
_PREMISE = re.compile(
    r"^\s*(?:since|given that|as|because|now that|considering that)\s+(?P<premise>[^,?]{12,}?),\s*(?P<rest>.+)$",
    re.IGNORECASE,
)
# Words that make a premise a strong claim; if the evidence does not repeat them, the premise is doubted.
_ABSOLUTES = re.compile(r"\b(only|once|never|always|all|every|no longer|exclusively|solely)\b", re.IGNORECASE)
_ACRONYM_Q = re.compile(r"\b[A-Z][A-Z0-9]{2,}s?\b")


class InvalidQuestion(RegassistError):
    """The question is empty or too long."""


@dataclass
class _Verified:
    text: str
    claims: list[Claim]
    citations: list[Citation]


class Assistant:
    """Answers questions from the index with verified citations, or refuses with a reason."""

    def __init__(
        self,
        index: Index,
        settings: AssistantSettings | None = None,
        chat: ChatBackend | None = None,
        abstention: decide.AbstentionModel | None = None,
    ) -> None:
        self.index = index
        self.abstention = abstention or decide.load()
        self.settings = settings or AssistantSettings()
        s = self.settings
        self.searcher = HybridSearcher(
            index,
            RetrievalConfig(
                k=s.k,
                candidates=s.candidates,
                fusion=s.fusion,
                alpha=s.fusion_alpha,
                dense_weight=s.dense_weight,
                lexical_weight=s.lexical_weight,
            ),
        )
        self.verifier = Verifier(encode=self._encode, threshold=s.support_threshold)
        self.heads = HeadVectors(index.settings.heads_location, index.identity.embed_model, self._encode)
        if chat is None and s.backend != "extractive":
            model = make_chat_model(s)
            chat = ChatBackend(model, s.backend, s.llm_model if s.backend == "openai" else str(s.llamacpp_model_path))
        self.chat = chat
        self._initials: tuple[int, set[str]] = (-1, set())
        self._acronyms: tuple[int, dict[str, str]] = (-1, {})

    @property
    def backend_name(self) -> str:
        """Which backend answers."""
        return self.chat.name if self.chat else "extractive"

    def warm(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Embed the heads of every live sentence not embedded yet (after ingest); return how many."""
        chunks = self.index.catalog.chunks_by_id(self.index.catalog.chunk_ids())
        texts = list(dict.fromkeys(h for c in chunks.values() for h in candidate_heads(c.text)))
        done = 0

        def step(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress(done, len(texts))

        return self.heads.warm(texts, progress=step)

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self.index.embedder.encode(texts)

    def _title_initials(self) -> set[str]:
        """Acronyms spelled by consecutive capitalised words of document titles ("Computer Software Assurance")."""
        gen = self.index.catalog.generation()
        if self._initials[0] != gen:
            out: set[str] = set()
            for row in self.index.catalog.documents():
                words = [w for w in re.findall(r"[A-Za-z]+", row["title"]) if w[0].isupper()]
                for n in range(2, 6):
                    out |= {"".join(w[0] for w in words[i : i + n]) for i in range(len(words) - n + 1)}
            self._initials = (gen, out)
        return self._initials[1]

    def _idf(self, term: str) -> float:
        n = max(1, len(self.index.lexical))
        df = self.index.lexical.document_frequency(term)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def index_version(self) -> str:
        """Which index answered: catalog generation, model and chunker."""
        ident = self.index.identity
        return f"gen{self.index.catalog.generation()}/{ident.embed_model}/{ident.chunker_version}"

    # --- public API ---------------------------------------------------------------------------
    def ask(
        self,
        question: str,
        filters: Filters | None = None,
        previous: followup.Turn | None = None,
        history: list[tuple[str, str]] | None = None,
    ) -> Answer:
        """Answer a question (the whole answer at once); `previous` is the conversation's last turn."""
        final: Answer | None = None
        for event in self.stream(question, filters, previous, history):
            if event["type"] == "answer":
                final = event["answer"]
        assert final is not None
        return final

    def stream(
        self,
        question: str,
        filters: Filters | None = None,
        previous: followup.Turn | None = None,
        history: list[tuple[str, str]] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Events: {"type": "retrieval"}, {"type": "token", "text"}..., then {"type": "answer", "answer"}.

        `previous` is the conversation's last turn and `history` its (question, answer) pairs: a follow-up
        is searched as the question it stands for (`assistant.followup`), and the answer says so when it
        moved to another regulator's documents."""
        for event in self._stream(question, filters, previous, history):
            if event["type"] == "answer" and previous is not None:
                event["answer"] = self._note_move(event["answer"])
            yield event

    def resolve(
        self, question: str, previous: followup.Turn | None, history: list[tuple[str, str]] | None = None
    ) -> followup.Resolved:
        """The question as it is searched: standalone, with what it took from the conversation."""
        resolved = followup.resolve(question, previous)
        if resolved.follow_up and self.chat is not None and history:
            condensed = self.chat.condense(history, question)
            if condensed:
                resolved.query = condensed
                resolved.condensed_by = self.chat.name
        return resolved

    def turn(self, contract: dict[str, Any]) -> followup.Turn:
        """What an answer (its output contract, as stored) leaves for the next question of its conversation."""
        ids = list(dict.fromkeys(str(c["document_id"]) for c in contract.get("citations", [])))
        rows = [r for r in (self.index.catalog.document(i) for i in ids) if r is not None]
        context = (contract.get("searched") or {}).get("context") or {}
        query = str(context.get("query") or contract.get("question", ""))
        # The regulator the turn was about: the one its question named, else those its answer cited.
        bodies = followup.bodies_named(query) or list(dict.fromkeys(str(r["issuing_body"]) for r in rows))
        return followup.Turn(
            query=query,
            document_ids=tuple(str(r["document_id"]) for r in rows),
            bodies=tuple(bodies),
            cited_bodies=tuple(dict.fromkeys(str(r["issuing_body"]) for r in rows)),
        )

    def _note_move(self, answer: Answer) -> Answer:
        context = answer.searched.get("context") or {}
        if answer.abstained or not context.get("follow_up"):
            return answer
        bodies = []
        for c in answer.citations:
            row = self.index.catalog.document(c.document_id)
            if row is not None:
                bodies.append(str(row["issuing_body"]))
        note = followup.moved(context, list(dict.fromkeys(bodies)))
        if note is None:
            return answer
        context["moved"] = note
        return replace(answer, warnings=(note, *answer.warnings))

    def _stream(
        self,
        question: str,
        filters: Filters | None,
        previous: followup.Turn | None,
        history: list[tuple[str, str]] | None,
    ) -> Iterator[dict[str, Any]]:
        question = self.check_question(question)
        t0 = time.perf_counter()
        resolved = self.resolve(question, previous, history)
        query, expanded, qvec, evidence = self.retrieve_in_context(resolved, filters)
        t_retrieval = (time.perf_counter() - t0) * 1000
        yield {"type": "retrieval", "evidence": evidence}
        lat = {"retrieval": t_retrieval}
        searched: dict[str, Any] = {
            "filters": {} if filters is None else {k: v for k, v in filters.__dict__.items() if v},
            "passages": len(evidence),
            "closest_documents": _closest(evidence),
        }
        if previous is not None:
            searched["context"] = resolved.to_dict()
        if expanded:
            searched["expanded_acronyms"] = expanded
        reason = self._no_evidence_reason(resolved.query, evidence, expanded)
        if reason is not None:
            yield {
                "type": "answer",
                "answer": self._refusal(question, reason[0], reason[1], evidence, lat, t0, searched),
            }
            return
        tg = time.perf_counter()
        if resolved.follow_up and not resolved.leans and not resolved.condensed_by:
            # A follow-up with a subject of its own ("and what does the FDA expect on audit trails?") was
            # searched with the previous subject, but its sentences are chosen for what it asks itself.
            query, _ = self._expand(question)
            qvec = self.searcher.embed_query(query)
        if self.chat is None:
            # A question built on a premise is answered from what the documents say about the premise:
            # "Since X, how should we Y?" is scored against X, which the evidence can confirm or correct.
            premise = _PREMISE.match(question)
            picks = pick_sentences(
                premise.group("premise") if premise else query,
                evidence,
                self._encode,
                self._idf,
                self.settings.max_answer_sentences,
                qvec=None if premise else qvec,
                encode_heads=self.heads.vectors,
            )
            lat["generation"] = (time.perf_counter() - tg) * 1000
            why = self._decide(query, evidence, picks, searched)
            if why is not None:
                yield {
                    "type": "answer",
                    "answer": self._refusal(question, "low_confidence", why, evidence, lat, t0, searched),
                }
                return
            claims_in: list[tuple[str, tuple[int, ...]]] = [(p.text, (p.n,)) for p in picks]
            text = " ".join(f"{p.text} [{p.n}]" for p in picks)
            for token in re.findall(r"\S+\s*", text):
                yield {"type": "token", "text": token}
        else:
            parts: list[str] = []
            for token in self.chat.stream(resolved.query, evidence):
                parts.append(token)
                yield {"type": "token", "text": token}
            text = "".join(parts).strip()
            lat["generation"] = (time.perf_counter() - tg) * 1000
            if not text:
                raise BackendError(f"{self.chat.name} backend returned an empty answer")
            if DECLINE in text:
                yield {
                    "type": "answer",
                    "answer": self._refusal(
                        question,
                        "no_evidence",
                        "The model found no answer in the retrieved passages.",
                        evidence,
                        lat,
                        t0,
                        searched,
                    ),
                }
                return
            claims_in = split_claims(text)
        tv = time.perf_counter()
        sources = {n: e for n, e in enumerate(evidence, start=1)}
        verdicts, attributed = self.verifier.verify_attributing(claims_in, sources)
        # A sentence that named no source the model was given, and that no source supports, is the model's
        # own: it is left out of an answer that has supported sentences (and listed for the record), never
        # shown as if it were part of the answer. One that cites a source and fails stays, flagged.
        own = {
            i
            for i, ((_, cited), v) in enumerate(zip(claims_in, verdicts, strict=True))
            if not v.supported and not any(n in sources for n in cited)
        }
        if own and any(v.supported for v in verdicts):
            searched["left_out"] = [verdicts[i].text for i in sorted(own)]
            verdicts = [v for i, v in enumerate(verdicts) if i not in own]
        verified = self._assemble(verdicts)
        lat["verification"] = (time.perf_counter() - tv) * 1000
        if attributed:
            searched["attributed"] = attributed
        yield {"type": "answer", "answer": self._finish(question, verified, evidence, lat, t0, searched)}

    # --- steps --------------------------------------------------------------------------------
    def retrieve(
        self, question: str, filters: Filters | None = None
    ) -> tuple[str, dict[str, str], np.ndarray, list[Evidence]]:
        """What an answer is drawn from: the query searched (the question, with each acronym the documents
        only spell out followed by its expansion), those expansions, the query's vector, and the evidence
        (with the per-regulator and definition searches added)."""
        query, expanded = self._expand(question)
        qvec = self.searcher.embed_query(query)
        return query, expanded, qvec, self._supplement(query, self.searcher.search(query, filters, qvec=qvec), filters)

    def retrieve_in_context(
        self, resolved: followup.Resolved, filters: Filters | None = None
    ) -> tuple[str, dict[str, str], np.ndarray, list[Evidence]]:
        """`retrieve` for a question in a conversation. A follow-up is searched first in the documents the
        previous answer drew on, then the whole library tops it up by two passages; one that names another
        regulator is searched in that regulator's documents."""
        base = filters or Filters()
        if resolved.switched_to and not base.issuing_body:
            found = self.retrieve(resolved.query, replace(base, issuing_body=resolved.switched_to))
            if found[3]:
                return found
        # Documents the asker chose bound the follow-up too: the previous answer's documents among them.
        ids = tuple(d for d in resolved.document_ids if not base.document_id or d in base.document_id)
        if not ids:
            return self.retrieve(resolved.query, filters)
        query, expanded, qvec, evidence = self.retrieve(resolved.query, replace(base, document_id=ids))
        have = {c.chunk_id for e in evidence for c in e.chunks}
        wider = self.searcher.search(query, filters, qvec=qvec, k=self.settings.k)
        extra = [e for e in wider if not have & {c.chunk_id for c in e.chunks}][:2]
        return query, expanded, qvec, evidence + extra

    def check_question(self, question: str) -> str:
        q = normalise(question or "")
        if not q:
            raise InvalidQuestion("question: must not be empty")
        if len(q) > self.settings.max_question_chars:
            raise InvalidQuestion(
                f"question: {len(q)} characters, more than the limit of {self.settings.max_question_chars}"
            )
        return q

    def _unused_acronyms(self, question: str) -> list[str]:
        """The question's acronyms that no document uses as such."""
        return [
            a
            for a in dict.fromkeys(_ACRONYM_Q.findall(question))
            if all(self.index.lexical.document_frequency(t) == 0 for t in tokenize(a))
        ]

    def _expansions(self) -> dict[str, str]:
        """Acronym -> expansion: the documents' own definitions over the curated list (once per generation)."""
        gen = self.index.catalog.generation()
        if self._acronyms[0] != gen:
            chunks = self.index.catalog.chunks_by_id(self.index.catalog.chunk_ids())
            self._acronyms = (gen, {**acronyms.CURATED, **acronyms.defined_in(c.text for c in chunks.values())})
        return self._acronyms[1]

    def _expand(self, question: str) -> tuple[str, dict[str, str]]:
        """The question with each acronym the documents only spell out followed by its expansion."""
        unused = self._unused_acronyms(question)
        if not unused:
            return question, {}
        table = self._expansions()
        found: dict[str, str] = {}
        for a in unused:
            expansion = table.get(a) or table.get(a.rstrip("s"))
            if expansion and self._written_out(expansion):
                found[a] = expansion
        return question + "".join(f" ({a}: {e})" for a, e in found.items()), found

    def _written_out(self, phrase: str) -> bool:
        """Whether the documents contain the phrase: its words in order, each as a stem ("computerised systems
        validation" writes out "computer system validation"), whitespace and case aside."""
        words = tokenize(phrase)
        if not words or any(self.index.lexical.document_frequency(t) == 0 for t in words):
            return False
        stems = [re.escape(w[: max(4, len(w) - 2)]) + r"\w*" for w in phrase.lower().split()]
        pattern = re.compile(r"\b" + r"[\s-]+".join(stems))
        # The chunks richest in the phrase's words (BM25), read from the catalog.
        ids = [cid for cid, _ in self.index.lexical.query(phrase, k=50)]
        return any(pattern.search(c.text.lower()) for c in self.index.catalog.chunks_by_id(ids).values())

    def _no_evidence_reason(
        self, question: str, evidence: list[Evidence], expanded: dict[str, str] | None = None
    ) -> tuple[str, str] | None:
        if not evidence:
            return "no_evidence", "No passage in the index matches the question."
        # An acronym that the corpus never uses, and whose expansion it does not use either, names a subject
        # it does not cover (e.g. PSUR).
        unknown = [
            a
            for a in self._unused_acronyms(question)
            if a not in (expanded or {}) and a.rstrip("s") not in self._title_initials()
        ]
        if unknown:
            return "no_evidence", f"The documents never mention {', '.join(dict.fromkeys(unknown))}."
        cited = decide.cited_only(question, evidence)
        if cited:
            return (
                "no_evidence",
                f"The documents cite {cited} only by its title or in references; it is not in the library.",
            )
        best = max(e.dense_score for e in evidence)
        if best < self.settings.min_dense_score:
            return "no_evidence", (
                f"The closest passage is only weakly related (similarity {best:.2f} < {self.settings.min_dense_score})."
            )
        return None

    def _supplement(self, question: str, evidence: list[Evidence], filters: Filters | None) -> list[Evidence]:
        """Passages a single search misses: each named regulator's own, and the sentence that defines a term.

        A comparison ("Annex 11 versus FDA's guidance") needs both sides; one search over the whole
        library often returns one regulator only. A definition question needs the glossary entry, which
        shares few words with the question's own.
        """
        extra: list[Evidence] = []
        named = set(followup.bodies_named(question))
        bodies = [b for b in dict.fromkeys(followup.BODY_NAMES.values()) if b in named]  # in a fixed order
        present = {c.meta.issuing_body for e in evidence for c in e.chunks}
        if len(bodies) > 1 and (filters is None or filters.is_empty()):
            for body in bodies:
                if body not in present:
                    extra += self.searcher.search(question, Filters(issuing_body=(body,)), k=2)
        term = definition_term(question)
        if term:
            for name in aliases(term, [], question)[:3]:
                extra += self.searcher.search(f"{name} means; {name} is defined as", filters, k=2)
        have = {c.chunk_id for e in evidence for c in e.chunks}
        for e in extra:
            if not have & {c.chunk_id for c in e.chunks}:
                evidence.append(e)
                have |= {c.chunk_id for c in e.chunks}
        return evidence

    def _decide(
        self, question: str, evidence: list[Evidence], picks: list[Pick], searched: dict[str, Any]
    ) -> str | None:
        """Why the documents do not answer, by the calibrated model (`assistant.decide`), or None to answer."""
        if not picks:
            return "No retrieved sentence is body text that could answer the question."
        f = decide.features(question, evidence, [p.text for p in picks], picks[0].score, self._idf, self._idf_max())
        model = self.abstention
        p = model.probability(f)
        searched["decision"] = {
            "p_unanswerable": round(p, 4),
            "threshold": model.threshold,
            "features": {k: round(v, 4) for k, v in f.items()},
        }
        if not self.settings.abstention_model:
            # The rules the model was meant to replace: a floor on the best sentence's score here, and the
            # quantity and regulator checks after verification (`_off_target`).
            if picks[0].score < self.settings.min_answer_score:
                best = picks[0].score
                return f"No retrieved sentence answers the question closely enough (best sentence score {best:.2f})."
            return None
        if p < model.threshold:
            return None
        return (
            f"The answer would be unreliable (estimated probability {p:.2f} that the documents do not answer, "
            f"refusing from {model.threshold:.2f}): {decide.REASONS[model.strongest(f)]}."
        )

    def _idf_max(self) -> float:
        n = max(1, len(self.index.lexical))
        return math.log(1 + (n + 0.5) / 0.5)

    def _assemble(self, verdicts: list[Support]) -> _Verified:
        """Renumber sources in order of first citation and build claims and citations."""
        renumber: dict[int, int] = {}
        citations: list[Citation] = []
        claims: list[Claim] = []
        parts: list[str] = []
        for v in verdicts:
            if not v.supported and self.settings.unsupported == "remove":
                continue
            nums: list[int] = []
            for n, chunk, s, e, score in v.quotes:
                if n not in renumber:
                    renumber[n] = len(renumber) + 1
                    page = self._page_of(chunk, s)
                    citations.append(
                        Citation(
                            n=renumber[n],
                            document_id=chunk.document_id,
                            title=chunk.title,
                            file=chunk.file,
                            page=page,
                            section=chunk.section,
                            quote=chunk.text[s:e],
                            chunk_id=chunk.chunk_id,
                            score=score,
                            quote_start=s,
                            quote_end=e,
                            status=chunk.meta.status,
                            page_label=self.index.catalog.cite(chunk.document_id, page),
                        )
                    )
                nums.append(renumber[n])
            for n in v.cited:  # cited but no sentence quoted: still a retrieved source
                if n not in renumber:
                    continue
                if renumber[n] not in nums:
                    nums.append(renumber[n])
            claims.append(Claim(v.text, tuple(nums), v.supported, v.score, v.reason))
            marks = "".join(f"[{n}]" for n in nums)
            parts.append(f"{v.text} {marks}".strip() + ("" if v.supported else " (unsupported)"))
        return _Verified(" ".join(parts), claims, citations)

    def _finish(
        self,
        question: str,
        v: _Verified,
        evidence: list[Evidence],
        lat: dict[str, float],
        t0: float,
        searched: dict[str, Any],
    ) -> Answer:
        warnings: list[str] = []
        supported = [c for c in v.claims if c.supported]
        if not supported:
            return self._refusal(
                question,
                "low_confidence",
                "No sentence of the answer is supported by the passages it cites.",
                evidence,
                lat,
                t0,
                searched,
                claims=v.claims,
            )
        cited = [c for c in v.citations if any(c.n in cl.citations for cl in supported)]
        # The extractive backend decided before verification (`_decide`); an LLM's answer is checked here.
        off_target = (
            _off_target(question, supported, cited, evidence)
            if self.chat is not None or not self.settings.abstention_model
            else None
        )
        if off_target:
            return self._refusal(question, "low_confidence", off_target, evidence, lat, t0, searched, claims=v.claims)
        cited_status = {c.status for c in cited}
        if cited_status and cited_status <= {"draft", "superseded"}:
            if self.settings.drafts == "refuse":
                return self._refusal(
                    question,
                    "only_draft_or_superseded",
                    "Only draft or superseded documents address the question.",
                    evidence,
                    lat,
                    t0,
                    searched,
                    claims=v.claims,
                )
            warnings.append("Based only on draft or superseded documents: check the current version.")
        conflict = _conflict(question, v, supported) or unverified_conflict(supported, v.citations, evidence)
        if conflict:
            return self._refusal(
                question,
                "conflicting_sources",
                conflict,
                evidence,
                lat,
                t0,
                searched,
                claims=v.claims,
                citations=v.citations,
            )
        answer_text = v.text
        premise = _PREMISE.match(question)
        if premise and self._premise_doubtful(premise.group("premise"), v):
            answer_text = (
                f"The documents do not support the premise that {premise.group('premise').strip()}. "
                f"What they say: {answer_text}"
            )
            warnings.append("The question's premise is not supported by the cited passages.")
        if any(not c.supported for c in v.claims):
            warnings.append("Some sentences are not supported by their cited passage and are marked (unsupported).")
        if searched.get("attributed"):
            warnings.append(
                f"{searched['attributed']} sentence(s) came without a usable citation; each now cites the passage"
                " that supports it best, and passed verification against it."
            )
        if searched.get("left_out"):
            warnings.append(
                f"{len(searched['left_out'])} sentence(s) of the model's answer cited no source and no passage"
                " supports them; they are left out."
            )
        unverified = sorted({c.file for c in cited if c.status == UNVERIFIED})
        if unverified:
            warnings.append(
                f"Rests on {', '.join(unverified)}: uploaded without a stated issuing body or status; check its source."
            )
        return self._answer(
            question, answer_text, False, None, v.citations, v.claims, evidence, lat, t0, warnings, searched
        )

    def _page_of(self, chunk: Chunk, offset: int) -> int:
        """The page on which a character offset of a chunk falls; chunks may cross page breaks."""
        if chunk.page_start == chunk.page_end:
            return chunk.page_start
        pos = 0
        for page in range(chunk.page_start, chunk.page_end):
            text = self.index.catalog.page_text(chunk.document_id, page) or ""
            pos += len(text) - (chunk.char_start if page == chunk.page_start else 0) + 1
            if offset < pos:
                return page
        return chunk.page_end

    def _premise_doubtful(self, premise: str, v: _Verified) -> bool:
        quotes = " ".join(c.quote for c in v.citations)
        facts_missing = [f for f in hard_facts(premise) if f not in quotes]
        absolutes = [w for w in _ABSOLUTES.findall(premise) if not re.search(rf"\b{w}\b", quotes, re.IGNORECASE)]
        return bool(facts_missing or absolutes)

    def _refusal(
        self,
        question: str,
        reason: str,
        why: str,
        evidence: list[Evidence],
        lat: dict[str, float],
        t0: float,
        searched: dict[str, Any],
        claims: list[Claim] | None = None,
        citations: list[Citation] | None = None,
    ) -> Answer:
        closest = ", ".join(f"{d['title']} (p. {d['page']})" for d in searched.get("closest_documents", [])[:3])
        text = f"The documents do not answer this question. {why}"
        if closest:
            text += f" Searched {searched.get('passages', 0)} passages; the closest were in: {closest}."
        return self._answer(
            question, text, True, reason, citations or [], claims or [], evidence, lat, t0, [], searched
        )

    def _answer(
        self,
        question: str,
        text: str,
        abstained: bool,
        reason: str | None,
        citations: list[Citation],
        claims: list[Claim],
        evidence: list[Evidence],
        lat: dict[str, float],
        t0: float,
        warnings: list[str],
        searched: dict[str, Any],
    ) -> Answer:
        lat = dict(lat)
        lat.setdefault("generation", 0.0)
        lat.setdefault("verification", 0.0)
        lat["total"] = (time.perf_counter() - t0) * 1000
        model = self.chat.model_name if self.chat else self.index.identity.embed_model
        ident = hashlib.sha256(f"{question}|{text}|{time.time_ns()}".encode()).hexdigest()[:16]
        return Answer(
            id=ident,
            question=question,
            answer=text,
            abstained=abstained,
            abstain_reason=reason,
            citations=tuple(citations),
            claims=tuple(claims),
            retrieval=tuple(evidence),
            backend=self.backend_name,
            model=model,
            prompt_version=PROMPT_VERSION if self.chat else EXTRACTIVE_PROMPT_VERSION,
            index_version=self.index_version(),
            latency_ms=lat,
            warnings=tuple(warnings),
            searched=searched,
        )


def _closest(evidence: list[Evidence]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for e in evidence:
        c = e.chunk
        if c.document_id not in seen:
            seen[c.document_id] = {
                "document_id": c.document_id,
                "title": c.title,
                "file": c.file,
                "page": c.page_start,
                "section": c.section,
            }
    return list(seen.values())


def _off_target(question: str, supported: list[Claim], cited: list[Citation], evidence: list[Evidence]) -> str | None:
    """Why supported sentences still do not answer the question, or None.

    A question that names an agency is not answered by passages that neither come from nor mention it; a
    question that asks for a quantity or period is not answered by sentences that give none.
    """
    named = decide.named_bodies(question)
    if named:
        bodies = {c.chunk_id: c.meta.issuing_body for e in evidence for c in e.chunks}
        sources = " ".join(
            f"{c.title} {bodies.get(c.chunk_id, '')} {re.sub(r'[_-]', ' ', c.file)} {c.quote}" for c in cited
        )
        if not any(re.search(rf"\b{b}\b", sources) for b in named):
            return f"The question is about {', '.join(named)}, and no supporting passage comes from or mentions it."
    if decide.ASKS_QUANTITY.search(question) and not any(decide.gives_quantity(c.text, question) for c in supported):
        return "The question asks for a quantity or period, and no supported sentence gives one."
    return None


def _conflict(question: str, v: _Verified, supported: list[Claim]) -> str | None:
    """Two supported claims from different documents giving different amounts of the same unit."""
    if not re.search(
        r"\b(how (long|many|much|often|soon)|within|what (period|deadline|percentage|time))\b", question, re.IGNORECASE
    ):
        return None
    by_n = {c.n: c for c in v.citations}
    seen: dict[str, tuple[str, str]] = {}
    for claim in supported:
        docs = {by_n[n].document_id for n in claim.citations if n in by_n}
        for value, unit in UNIT_NUMBER.findall(claim.text):
            key = unit.lower().rstrip("s")
            for doc in docs:
                if key in seen and seen[key][0] != doc and seen[key][1] != value:
                    return f"Sources disagree: one gives {seen[key][1]} {key}(s), another {value} {key}(s)."
                seen.setdefault(key, (doc, value))
    return None
