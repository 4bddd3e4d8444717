"""Acronyms a question uses that the documents spell out: "CSV" for "computer system validation".

A question is never refused for an acronym the documents only write in full. Two sources of expansions:
the documents' own definitions ("computer software assurance (CSA)"), read from the live chunks once per
catalog generation, and a short curated list of regulatory acronyms. An expansion counts only if its
words occur in the documents, so an acronym for a subject the corpus does not cover (PSUR) still is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Regulatory acronyms and what they stand for (lower case). Kept short and uncontroversial.
CURATED: dict[str, str] = {
    "ALCOA": "attributable legible contemporaneous original accurate",
    "BA": "bioavailability",
    "BE": "bioequivalence",
    "BLA": "biologics license application",
    "CAPA": "corrective and preventive action",
    "CMC": "chemistry manufacturing and controls",
    "CRO": "contract research organization",
    "CSA": "computer software assurance",
    "CSV": "computer system validation",
    "DI": "data integrity",
    "EDC": "electronic data capture",
    "ERP": "enterprise resource planning",
    "FMEA": "failure mode effects analysis",
    "GCP": "good clinical practice",
    "GLP": "good laboratory practice",
    "GMP": "good manufacturing practice",
    "HACCP": "hazard analysis critical control point",
    "IQ": "installation qualification",
    "IRB": "institutional review board",
    "ISF": "investigator site file",
    "LIMS": "laboratory information management system",
    "LLM": "large language model",
    "MES": "manufacturing execution system",
    "ML": "machine learning",
    "NLP": "natural language processing",
    "OOS": "out of specification",
    "OQ": "operational qualification",
    "PK": "pharmacokinetic",
    "PQ": "performance qualification",
    "PSUR": "periodic safety update report",
    "QMS": "quality management system",
    "QP": "qualified person",
    "QRM": "quality risk management",
    "RLD": "reference listed drug",
    "RWD": "real world data",
    "RWE": "real world evidence",
    "SaMD": "software as a medical device",
    "SOP": "standard operating procedure",
    "TMF": "trial master file",
    "URS": "user requirements specification",
}

_DEFINED = re.compile(r"\b((?:[A-Za-z][a-z]+[\s-]+){1,7}?)\(([A-Z][A-Za-z]{1,7})\)")


def _initials_match(words: list[str], acronym: str) -> bool:
    letters = "".join(w[0] for w in words if w.lower() not in {"and", "of", "the", "for", "in", "a", "an", "to"})
    return letters.lower() == acronym.lower()


def defined_in(texts: Iterable[str]) -> dict[str, str]:
    """Acronyms the texts define, with their expansion: "Computer Software Assurance (CSA)"."""
    out: dict[str, str] = {}
    for text in texts:
        for m in _DEFINED.finditer(text):
            words, acronym = m.group(1).split(), m.group(2)
            for n in range(len(acronym), len(words) + 1):
                if _initials_match(words[-n:], acronym):
                    out.setdefault(acronym, " ".join(words[-n:]).lower())
                    break
    return out
