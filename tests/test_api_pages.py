"""The cited page as the page: a PDF page drawn from the indexed bytes, every citation of the answer boxed
on it over the very words it quotes, text documents shown as text, and a replaced version's citation
opened on the current version."""

from __future__ import annotations

import io

import pypdfium2 as pdfium
from PIL import Image

from api.pages import RENDER_WIDTH, _skeleton, find_quote
from tests.conftest import DeskEnv
from tests.test_api_review import EMA_TXT, Q_PDF, Q_TXT

ANNEX = "EC_EU-GMP-Annex11_computerised-systems_2011.pdf"


def _boxed_words(env: DeskEnv, file: str, page: int, boxes: list[list[float]]) -> str:
    """The PDF's own text under the boxes, read back with PDFium: what a reader sees highlighted."""
    pdf = pdfium.PdfDocument(env.corpus / file)
    try:
        p = pdf[page - 1]
        w, h = p.get_size()
        tp = p.get_textpage()
        return " ".join(tp.get_text_bounded(x0 * w, h - y1 * h, x1 * w, h - y0 * h) for x0, y0, x1, y1 in boxes)
    finally:
        pdf.close()


def test_every_citation_on_a_pdf_page_is_boxed_over_the_words_it_quotes(desk_env: DeskEnv) -> None:
    env = desk_env
    rec = env.ask(Q_PDF, "staff")
    on_annex = [c for c in rec["citations"] if c["file"] == ANNEX]
    assert on_annex, rec["citations"]
    first = on_annex[0]
    r = env.client.get(f"/api/records/{rec['id']}/citations/{first['n']}/page", headers=env.auth("staff"))
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["page"] == first["page"] and page["image"] and page["image_note"] == ""
    # Every citation of this answer on this page is marked, each by its own number.
    same_page = {c["n"] for c in on_annex if c["page"] == first["page"]}
    assert {m["n"] for m in page["marks"]} >= same_page
    for m in page["marks"]:
        assert m["found"] == "exact" and m["boxes"], m
        cited = next(c for c in rec["citations"] if c["n"] == m["n"])
        # The boxes cover the quoted words, and little else.
        under = _skeleton(_boxed_words(env, ANNEX, page["page"], m["boxes"]))[0]
        assert _skeleton(cited["quote"])[0] in under
        assert len(under) < 1.5 * len(_skeleton(cited["quote"])[0]) + 40

    image = env.client.get(page["image"], headers=env.auth("staff"))
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    drawn = Image.open(io.BytesIO(image.content))
    w, h = pdfium.PdfDocument(env.corpus / ANNEX)[page["page"] - 1].get_size()
    assert drawn.width == RENDER_WIDTH and abs(drawn.height / drawn.width - h / w) < 0.01
    # Not a blank page: the rendering has dark text pixels.
    assert drawn.convert("L").getextrema()[0] < 64
    # Served from the cache the second time, byte for byte.
    assert env.client.get(page["image"], headers=env.auth("staff")).content == image.content


def test_a_text_document_is_shown_as_text_with_the_quote_marked(desk_env: DeskEnv) -> None:
    env = desk_env
    rec = env.ask(Q_TXT, "staff")
    cited = next(c for c in rec["citations"] if c["file"] == EMA_TXT)
    page = env.client.get(f"/api/records/{rec['id']}/citations/{cited['n']}/page", headers=env.auth("staff")).json()
    assert page["image"] is None
    (mark,) = [m for m in page["marks"] if m["n"] == cited["n"]]
    a, b = mark["spans"][0]
    assert " ".join(page["text"][a:b].split()) == " ".join(cited["quote"].split())
    r = env.client.get(f"/api/documents/{page['document_id']}/pages/1/image", headers=env.auth("staff"))
    assert r.status_code == 404 and "not a PDF" in r.json()["error"]


def test_a_pdf_changed_on_disk_after_ingest_is_not_drawn_in_place_of_the_cited_version(desk_env: DeskEnv) -> None:
    env = desk_env
    rec = env.ask(Q_PDF, "staff")
    cited = next(c for c in rec["citations"] if c["file"] == ANNEX)
    data = (env.corpus / ANNEX).read_bytes()
    # Same size, other bytes: only the hash can tell.
    (env.corpus / ANNEX).write_bytes(data[:-2] + (b"%%" if data[-2:] != b"%%" else b"  "))
    page = env.client.get(f"/api/records/{rec['id']}/citations/{cited['n']}/page", headers=env.auth("staff")).json()
    assert page["image"] is None and ANNEX in page["image_note"] and "extracted text" in page["image_note"]
    assert page["marks"][0]["spans"], "the text still shows the quote"
    r = env.client.get(f"/api/documents/{cited['document_id']}/pages/{cited['page']}/image", headers=env.auth("staff"))
    assert r.status_code == 404 and ANNEX in r.json()["error"]


def test_a_citation_of_a_replaced_version_opens_the_current_version(desk_env: DeskEnv) -> None:
    env = desk_env
    rec = env.ask(Q_TXT, "staff")
    cited = next(c for c in rec["citations"] if c["file"] == EMA_TXT)
    words = cited["quote"].split()
    changed = " ".join([*words[:-3], "as", "amended", "later."])
    flat = " ".join((env.corpus / EMA_TXT).read_text().split())
    assert " ".join(words) in flat
    r = env.client.post(
        "/api/documents",
        params={"filename": EMA_TXT},
        content=flat.replace(" ".join(words), changed).encode(),
        headers={**env.auth("admin"), "content-type": "text/plain"},
    )
    assert r.status_code == 202, r.text
    assert env.wait_job(str(r.json()["id"]))["status"] == "done"
    r = env.client.get(f"/api/records/{rec['id']}/citations/{cited['n']}/page", headers=env.auth("staff"))
    assert r.status_code == 200, r.text  # it used to be "No document with id …"
    page = r.json()
    assert page["document_id"] != cited["document_id"] and "since been replaced" in page["note"]
    assert "as amended later." in " ".join(page["text"].split())
    mark = next(m for m in page["marks"] if m["n"] == cited["n"])
    assert mark["spans"], "the part of the quote that is still there is marked"


def test_someone_elses_answer_has_no_citation_pages_for_you(desk_env: DeskEnv) -> None:
    env = desk_env
    rec = env.ask(Q_PDF, "staff")  # asked by staff
    r = env.client.get(f"/api/records/{rec['id']}/citations/1/page", headers=env.auth("consultant"))
    assert r.status_code == 404 and "No answer record" in r.json()["error"]
    r = env.client.get(f"/api/records/{rec['id']}/citations/99/page", headers=env.auth("staff"))
    assert r.status_code == 404 and "no citation [99]" in r.json()["error"]


def test_a_quote_is_found_on_a_line_numbered_draft_page_across_hyphens_and_ligatures() -> None:
    page = (
        "Contains Nonbinding Recommendations\r\n"
        "118 The sponsor should docu-\r\n"
        "119 ment the model’s ﬁtness for its context of use and\r\n"
        "120 describe the data used to train it.\r\n"
        "121 Other text follows here on this line.\r\n"
        "122 And more.\r\n"
    )
    start, end, how = find_quote(page, "The sponsor should document the model's fitness for its context of use")  # type: ignore[misc]
    assert how == "exact" and page[start:end].startswith("The sponsor") and page[start:end].endswith("context of use")
    # A quote that runs on to the next page: its part on this page.
    start, end, how = find_quote(page, "describe the data used to train it. Words that are on the next page only")  # type: ignore[misc]
    assert how == "part" and page[start:end] == "describe the data used to train it"
    assert find_quote(page, "Nothing like this sentence appears anywhere on the page at all") is None
