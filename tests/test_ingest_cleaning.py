"""Page text a reader recognises: compatibility characters normalised, words pypdf split inside joined."""

from __future__ import annotations

from collections import Counter

from ingest.cleaning import clean_pdf_pages, compatibility_characters, join_split_words


def test_ligatures_and_compatibility_characters_are_normalised() -> None:
    assert compatibility_characters("veriﬁcation of the ﬂow\u00a0rate") == "verification of the flow rate"


def test_words_split_inside_are_joined_where_the_join_is_certain() -> None:
    seen = Counter({"restore": 1, "taken": 2})
    # A fragment that is no English word: joined whatever the document holds.
    assert join_split_words("the data should be evalua ted", Counter()) == "the data should be evaluated"
    assert join_split_words("or certi fying the batches", Counter()) == "or certifying the batches"
    # Two real words that the document also has joined: joined.
    assert join_split_words("the ability to rest ore the data", seen) == "the ability to restore the data"
    assert join_split_words("to be ta ken when", seen) == "to be taken when"
    # Real phrases stay, even where the joined word exists.
    for phrase in ("a part of the record", "in formation flying", "data base line", "on going"):
        assert join_split_words(phrase, Counter({"apart": 1, "information": 1, "ongoing": 1})) == phrase


def test_a_pdf_document_is_joined_with_its_own_vocabulary() -> None:
    pages = ["Backups should be checked to rest ore data.", "The system can restore a backup."]
    assert clean_pdf_pages(pages)[0] == "Backups should be checked to restore data."
