"""The web interface in Debian's chromium, driven by Playwright, against `regassist serve` started as a user
would start it: ask → open a citation → see the highlighted source → review → approve → export; an
evaluator's run. Screenshots go to test-artifacts/ for a person to look at."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port, wait_ready
from tests.test_api_review import Q_NONE, Q_PDF, Q_TXT

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, desk_template: Path) -> Iterator[tuple[str, str]]:
    """`regassist serve` on a fresh folder: it prints the admin token once and ingests the corpus itself."""
    root = tmp_path_factory.mktemp("served")
    shutil.copytree(desk_template / "corpus", root / "corpus")
    port = free_port()
    env = {
        **os.environ,
        "REGASSIST_DATA_DIR": str(root / "data"),
        "REGASSIST_CORPUS_DIR": str(root / "corpus"),
        "REGASSIST_RATE_LIMIT": "1000/minute",
        "PYTHONUNBUFFERED": "1",
    }
    exe = Path(sys.executable).parent / "regassist"
    log = open(root / "serve.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port)], stdout=subprocess.PIPE, stderr=log, text=True, env=env
    )
    assert proc.stdout is not None
    printed: list[str] = []
    url = f"http://127.0.0.1:{port}/"
    token = None
    deadline = time.time() + 120
    while time.time() < deadline:
        line = proc.stdout.readline()
        printed.append(line)
        if line.strip().startswith("ra_"):
            token = line.strip()
        if f"Sign in at {url}" in line:
            break
    assert token, "".join(printed)
    assert any("shown this once" in x for x in printed) and any("ingesting" in x for x in printed)
    wait_ready(url, proc, root / "serve.log", deadline)
    # Every test starts with the corpus indexed: a test run on its own (or first) would otherwise ask while
    # the first start's background ingest still has documents to go, and get an answer from fewer of them.
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
        while time.time() < deadline and any(
            j["status"] in ("queued", "running") for j in http.get("/api/jobs").json()
        ):
            time.sleep(0.3)
    yield url, token
    proc.terminate()
    proc.wait(30)
    log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _sign_in(browser: object, url: str, token: str, width: int = 1400) -> object:
    size = {"width": width, "height": 900 if width > 600 else 844}
    page = browser.new_context(accept_downloads=True, viewport=size).new_page()  # type: ignore[attr-defined]
    page.goto(url)
    page.get_by_test_id("token").fill(token)
    page.get_by_test_id("signin").click()
    page.get_by_test_id("who").wait_for()
    return page


def _add_user(page: object, name: str, role: str) -> str:
    page.get_by_role("button", name="Users").click()  # type: ignore[attr-defined]
    page.get_by_test_id("user-name").fill(name)  # type: ignore[attr-defined]
    page.get_by_test_id("user-role").select_option(role)  # type: ignore[attr-defined]
    page.get_by_test_id("user-add").click()  # type: ignore[attr-defined]
    text = page.get_by_test_id("new-token").inner_text()  # type: ignore[attr-defined]
    while f"Token for {name}" not in text:
        time.sleep(0.1)
        text = page.get_by_test_id("new-token").inner_text()  # type: ignore[attr-defined]
    return re.search(r"(ra_\S+)$", text).group(1)  # type: ignore[union-attr]


def test_ask_cite_review_approve_export_in_the_browser(served: tuple[str, str], browser: object) -> None:
    url, admin_token = served
    SHOTS.mkdir(exist_ok=True)
    admin = _sign_in(browser, url, admin_token)
    assert admin.get_by_test_id("who").inner_text() == "admin (admin)"  # type: ignore[attr-defined]
    consultant_token = _add_user(admin, "carla", "consultant")
    reviewer_token = _add_user(admin, "rob", "reviewer")
    admin.screenshot(path=str(SHOTS / "desk-1-users.png"), full_page=True)  # type: ignore[attr-defined]

    # A consultant asks; the answer streams in, then arrives verified with its citations.
    carla = _sign_in(browser, url, consultant_token)
    carla.get_by_test_id("question").fill(Q_PDF)  # type: ignore[attr-defined]
    carla.get_by_test_id("ask").click()  # type: ignore[attr-defined]
    carla.get_by_test_id("status").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    answer = carla.get_by_test_id("answer")  # type: ignore[attr-defined]
    assert int(answer.get_attribute("data-tokens")) > 5
    assert "Audit trails need to be available" in answer.inner_text()
    assert carla.get_by_test_id("status").inner_text() == "draft"  # type: ignore[attr-defined]
    # Opening citation [1] shows page 4 of Annex 11 drawn as the page, the quoted sentence boxed on it, and
    # the same span marked in the page's text underneath.
    carla.get_by_test_id("cite-1").first.click()  # type: ignore[attr-defined]
    carla.locator("[data-testid=highlight-box][data-n='1']").first.wait_for()  # type: ignore[attr-defined]
    assert carla.locator("#source-img").evaluate("i => i.complete && i.naturalWidth") == 1100  # type: ignore[attr-defined]
    mark = carla.locator("[data-testid=highlight][data-n='1']")  # type: ignore[attr-defined]
    assert "Audit trails need to be available" in re.sub(r"\s+", " ", mark.first.text_content())
    assert carla.locator("#source-title").inner_text() == "EU GMP Annex 11: Computerised Systems"  # type: ignore[attr-defined]
    assert carla.locator("#source-where").inner_text().startswith("page 4 of")  # type: ignore[attr-defined]
    carla.screenshot(path=str(SHOTS / "desk-2-answer-and-source.png"))  # type: ignore[attr-defined]
    carla.locator("#source-close").click()  # type: ignore[attr-defined]

    # A reviewer finds it in the queue and approves it.
    rob = _sign_in(browser, url, reviewer_token)
    # The admin saw the token they issued, so the app exchanges it for one only rob has seen.
    notice = rob.get_by_test_id("token-notice").inner_text()  # type: ignore[attr-defined]
    assert "only you have seen" in notice and reviewer_token not in notice
    rob.get_by_role("button", name="Review queue").click()  # type: ignore[attr-defined]
    rob.get_by_test_id("queue").get_by_text(Q_PDF).click()  # type: ignore[attr-defined]
    rob.get_by_test_id("review-reason").fill("Matches Annex 11 section 9")  # type: ignore[attr-defined]
    rob.get_by_test_id("approve").click()  # type: ignore[attr-defined]
    rob.locator('[data-testid="record-answer"] [data-testid="status"]', has_text="approved").wait_for()  # type: ignore[attr-defined]
    rob.screenshot(path=str(SHOTS / "desk-3-approved.png"), full_page=True)  # type: ignore[attr-defined]

    # The consultant exports it from the library as DOCX, with its references.
    carla.get_by_role("button", name="Library").click()  # type: ignore[attr-defined]
    carla.get_by_test_id("library").get_by_text(Q_PDF).wait_for()  # type: ignore[attr-defined]
    carla.get_by_test_id("select").first.check()  # type: ignore[attr-defined]
    with carla.expect_download() as dl:  # type: ignore[attr-defined]
        carla.get_by_test_id("export-docx").click()  # type: ignore[attr-defined]
    target = SHOTS / "desk-export.docx"
    dl.value.save_as(str(target))
    carla.screenshot(path=str(SHOTS / "desk-4-library.png"), full_page=True)  # type: ignore[attr-defined]
    from docx import Document

    text = "\n".join(p.text for p in Document(io.BytesIO(target.read_bytes())).paragraphs)
    assert Q_PDF in text and "Approved by rob" in text
    assert re.search(
        r"\[1\] EU GMP Annex 11: Computerised Systems, section 9, page 4\. “Audit trails need to be available", text
    )

    # A staff member finds carla's approved answer in the library, opens it and its cited page, and rates
    # it: they read what was approved, with nothing to edit or decide.
    stan = _sign_in(browser, url, _add_user(admin, "stan", "staff"))
    stan.get_by_role("button", name="Library").click()  # type: ignore[attr-defined]
    stan.get_by_test_id("library").get_by_text(Q_PDF).click()  # type: ignore[attr-defined]
    record = stan.get_by_test_id("record-answer")  # type: ignore[attr-defined]
    record.get_by_test_id("status").wait_for()
    assert record.get_by_test_id("status").inner_text() == "approved"
    assert "Audit trails need to be available" in record.inner_text()
    assert stan.get_by_test_id("edit-text").count() == 0 and stan.get_by_test_id("approve").count() == 0  # type: ignore[attr-defined]
    record.get_by_test_id("cite-1").first.click()
    stan.locator("[data-testid=highlight-box][data-n='1']").first.wait_for()  # type: ignore[attr-defined]
    stan.locator("#source-close").click()  # type: ignore[attr-defined]
    record.get_by_test_id("thumbs-up").click()
    stan.wait_for_function("document.querySelector('[data-testid=feedback-note]').textContent.startsWith('Thank you')")  # type: ignore[attr-defined]
    stan.screenshot(path=str(SHOTS / "desk-9-reader-rates.png"), full_page=True)  # type: ignore[attr-defined]


def test_refusals_and_unsupported_sentences_are_shown_plainly(served: tuple[str, str], browser: object) -> None:
    url, admin_token = served
    admin = _sign_in(browser, url, admin_token)
    page = _sign_in(browser, url, _add_user(admin, "cora", "consultant"))
    page.get_by_test_id("question").fill(Q_NONE)  # type: ignore[attr-defined]
    page.get_by_test_id("ask").click()  # type: ignore[attr-defined]
    refusal = page.get_by_test_id("abstained")  # type: ignore[attr-defined]
    refusal.wait_for(timeout=60_000)
    assert refusal.inner_text().startswith("Not answered. The documents contain nothing on this.")
    page.screenshot(path=str(SHOTS / "desk-5-refusal.png"))  # type: ignore[attr-defined]
    # An edit that adds an invented sentence: the sentence is marked unsupported before anyone approves.
    page.get_by_test_id("question").fill(Q_TXT)  # type: ignore[attr-defined]
    page.get_by_test_id("ask").click()  # type: ignore[attr-defined]
    page.get_by_test_id("status").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    page.get_by_role("button", name="My answers").click()  # type: ignore[attr-defined]
    page.locator("#mine-list").get_by_text(Q_TXT).click()  # type: ignore[attr-defined]
    edit = page.get_by_test_id("edit-text")  # type: ignore[attr-defined]
    edit.fill(edit.input_value() + " The EMA accepts any test set of 50 cases. [1]")
    page.get_by_test_id("save-edit").click()  # type: ignore[attr-defined]
    flagged = page.locator(".claim.unsupported")  # type: ignore[attr-defined]
    flagged.wait_for()
    assert "The EMA accepts any test set of 50 cases." in flagged.inner_text() and "unsupported" in flagged.inner_text()
    assert "+The EMA accepts any test set of 50 cases." in page.get_by_test_id("diff").inner_text()  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / "desk-6-unsupported-edit.png"), full_page=True)  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", [1280, 390])
def test_an_evaluator_runs_an_evaluation_and_reads_the_report(
    served: tuple[str, str], browser: object, width: int
) -> None:
    url, admin_token = served
    admin = _sign_in(browser, url, admin_token)
    page = _sign_in(browser, url, _add_user(admin, f"eval-{width}", "evaluator"), width)
    assert [b.inner_text() for b in page.locator("nav button").all()] == ["Documents", "Evaluations"]  # type: ignore[attr-defined]
    page.get_by_role("button", name="Evaluations").click()  # type: ignore[attr-defined]
    page.get_by_test_id("eval-set").select_option("bundled-dev")  # type: ignore[attr-defined]
    with page.expect_response(lambda r: r.url.endswith("/api/evals") and r.request.method == "POST") as started:  # type: ignore[attr-defined]
        page.get_by_test_id("eval-start").click()  # type: ignore[attr-defined]
    row = page.locator(f"tr[data-run='{started.value.json()['id']}']")  # type: ignore[attr-defined]
    status = row.get_by_test_id("run-status")
    status.wait_for()
    seen = {status.inner_text()}
    deadline = time.time() + 300
    while "done" not in seen and "failed" not in seen and time.time() < deadline:
        time.sleep(1)
        seen.add(status.inner_text())
    assert "done" in seen, seen
    assert {"queued", "running"} & seen, "progress was never shown"
    row.get_by_test_id("open-report").click()
    frame = page.frame_locator('[data-testid="eval-report"]')  # type: ignore[attr-defined]
    frame.get_by_text("Abstention", exact=False).first.wait_for()
    # Each metric explained in a sentence, its threshold marked; the corpus pinned; no server path.
    report = frame.locator("body").inner_text()
    assert "Share of answerable questions with a gold page among the first 5 retrieved." in report
    assert "✓ met" in report or "✗ missed" in report
    assert "3 documents, pinned" in report and "/tmp/" not in report and ".jsonl" not in report
    page.screenshot(path=str(SHOTS / f"desk-7-evaluation-{width}.png"), full_page=True)  # type: ignore[attr-defined]
    with page.expect_download() as dl:  # type: ignore[attr-defined]
        row.get_by_test_id("download-report").click()
    kept = SHOTS / f"desk-evaluation-report-{width}.html"
    dl.value.save_as(str(kept))
    assert kept.read_text(encoding="utf-8").startswith("<!doctype html>")
    # A second run, then the two compared on the page: same code, corpus and settings, so nothing differs.
    done = "[...document.querySelectorAll('[data-testid=run-status]')].filter(e => e.textContent === 'done').length"
    before = page.evaluate(done)  # type: ignore[attr-defined]
    page.get_by_test_id("eval-start").click()  # type: ignore[attr-defined]
    page.wait_for_function(f"{done} === {before + 1}", timeout=300_000)  # type: ignore[attr-defined]
    page.get_by_test_id("compare-go").click()  # type: ignore[attr-defined]
    page.get_by_test_id("compare-table").wait_for()  # type: ignore[attr-defined]
    verdicts = set(page.get_by_test_id("verdict").all_inner_texts())  # type: ignore[attr-defined]
    assert verdicts and "REGRESSION" not in verdicts, verdicts
    changed = page.get_by_test_id("compare-changed").inner_text()  # type: ignore[attr-defined]
    assert changed.startswith("No difference") or "code" in changed, changed
    page.screenshot(path=str(SHOTS / f"desk-8-compare-{width}.png"), full_page=True)  # type: ignore[attr-defined]


def test_an_admin_uploads_a_document_and_says_what_it_is(
    served: tuple[str, str], browser: object, tmp_path: Path
) -> None:
    url, admin_token = served
    admin = _sign_in(browser, url, admin_token)
    admin.get_by_role("button", name="Documents").click()  # type: ignore[attr-defined]
    note = tmp_path / "sop-retention.md"
    note.write_text("# Retention (EMA, final)\n\nAudit trail records are kept for two years after study end.\n")
    admin.get_by_test_id("upload-file").set_input_files(str(note))  # type: ignore[attr-defined]
    admin.get_by_test_id("upload-title").fill("SOP-QA-007 Record retention")  # type: ignore[attr-defined]
    admin.get_by_test_id("upload-body").fill("Acme QA")  # type: ignore[attr-defined]
    admin.get_by_test_id("upload-doc-status").select_option("final")  # type: ignore[attr-defined]
    admin.get_by_test_id("upload").click()  # type: ignore[attr-defined]
    row = admin.locator('#documents tr[data-file="sop-retention.md"]')  # type: ignore[attr-defined]
    row.wait_for(timeout=120_000)
    # The catalog says what the admin said, not what the file's own heading claims.
    # (✎: fields an admin set, which the file's later versions keep.)
    assert row.inner_text().split("\t")[:3] == ["SOP-QA-007 Record retention ✎", "Acme QA", "final"]


def test_a_word_sop_is_cited_by_its_section_in_the_browser(served: tuple[str, str], browser: object) -> None:
    """A Word file's "pages" are its sections: the answer, its source list and the source viewer name the
    section ("§4.2 Deviations"), not the section's number in the file as if it were a page. Enter sends
    the question (Shift+Enter is a new line) and Escape closes the source panel."""
    from tests.docxmaker import make_sop_docx

    url, admin_token = served
    admin = _sign_in(browser, url, admin_token)
    admin.get_by_role("button", name="Documents").click()  # type: ignore[attr-defined]
    sop = SHOTS / "SOP-QA-042.docx"
    SHOTS.mkdir(exist_ok=True)
    sop.write_bytes(make_sop_docx())
    admin.get_by_test_id("upload-file").set_input_files(str(sop))  # type: ignore[attr-defined]
    admin.get_by_test_id("upload-title").fill("SOP-QA-042 Deviation management")  # type: ignore[attr-defined]
    admin.get_by_test_id("upload-body").fill("Acme QA")  # type: ignore[attr-defined]
    admin.get_by_test_id("upload-doc-status").select_option("final")  # type: ignore[attr-defined]
    admin.get_by_test_id("upload").click()  # type: ignore[attr-defined]
    admin.locator('#documents tr[data-file="SOP-QA-042.docx"]').wait_for(timeout=120_000)  # type: ignore[attr-defined]

    staff = _sign_in(browser, url, _add_user(admin, "sam", "staff"))
    box = staff.get_by_test_id("question")  # type: ignore[attr-defined]
    box.fill("Who shall record every unplanned departure")
    box.press("Shift+Enter")  # a new line, not a send
    assert box.input_value() == "Who shall record every unplanned departure\n"
    box.fill("Who shall record every unplanned departure from an approved procedure in the deviation log?")
    box.press("Enter")  # Enter sends, as chats do
    staff.get_by_test_id("status").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    link = staff.get_by_test_id("source-link-1")  # type: ignore[attr-defined]
    assert link.inner_text() == "SOP-QA-042 Deviation management, §4.2 Deviations", link.inner_text()
    assert staff.get_by_test_id("cite-1").first.get_attribute("title") == link.inner_text()  # type: ignore[attr-defined]
    link.click()
    staff.get_by_test_id("highlight").wait_for()  # type: ignore[attr-defined]
    assert staff.locator("#source-where").inner_text() == "§4.2 Deviations (section 4 of 5)"  # type: ignore[attr-defined]
    staff.screenshot(path=str(SHOTS / "desk-8-word-section.png"))  # type: ignore[attr-defined]
    staff.keyboard.press("Escape")  # type: ignore[attr-defined]
    assert staff.locator("#source").is_hidden()  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", [1280, 390])
def test_a_staff_member_follows_up_and_finds_the_conversation_again(
    served: tuple[str, str], browser: object, width: int
) -> None:
    """Ask, ask a follow-up that depends on it, see the move to another regulator said, reload the
    conversation's address, step Back, and find the conversation in the sidebar by search and rename it."""
    url, admin_token = served
    admin = _sign_in(browser, url, admin_token)
    page = _sign_in(browser, url, _add_user(admin, f"stella-{width}", "staff"), width)
    box = page.get_by_test_id("question")  # type: ignore[attr-defined]
    box.fill("Under Annex 11, how should electronic records be protected against damage?")
    box.press("Enter")
    page.get_by_test_id("status").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    first_url = page.url  # type: ignore[attr-defined]
    assert re.search(r"#/c/[0-9a-f]{32}$", first_url), first_url
    box.fill("How often should backups be checked?")
    box.press("Enter")
    page.get_by_test_id("context").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    answer = page.get_by_test_id("answer")  # type: ignore[attr-defined]
    assert "monitored periodically" in answer.inner_text()
    assert "Read as a follow-up" in page.get_by_test_id("context").inner_text()  # type: ignore[attr-defined]
    turns = page.get_by_test_id("turn")  # type: ignore[attr-defined]
    assert turns.count() == 1 and "protected against damage" in turns.first.inner_text()
    assert page.url == first_url  # type: ignore[attr-defined]  # the same conversation
    box.fill("And what does the FDA expect on audit trails?")
    box.press("Enter")
    page.locator('[data-testid="answer"] [data-testid="warning"]').wait_for(timeout=60_000)  # type: ignore[attr-defined]
    assert "draws on FDA documents" in page.get_by_test_id("warning").first.inner_text()  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / f"chat-1-follow-up-{width}.png"), full_page=True)  # type: ignore[attr-defined]
    # The answer opens at its own address; Back returns to the conversation.
    page.get_by_test_id("permalink").click()  # type: ignore[attr-defined]
    page.get_by_test_id("record-answer").wait_for()  # type: ignore[attr-defined]
    assert "#/r/" in page.url  # type: ignore[attr-defined]
    page.go_back()  # type: ignore[attr-defined]
    page.get_by_test_id("turn").nth(1).wait_for()  # type: ignore[attr-defined]
    # The next day: a reload at the conversation's address shows the whole thread.
    page.reload()  # type: ignore[attr-defined]
    page.get_by_test_id("turn").nth(1).wait_for()  # type: ignore[attr-defined]
    assert page.get_by_test_id("turn").count() == 2  # type: ignore[attr-defined]
    assert "draws on FDA documents" in page.get_by_test_id("answer").inner_text()  # type: ignore[attr-defined]
    # A new conversation, then the old one found again by a word of its second question, and renamed.
    page.get_by_test_id("new-chat").click()  # type: ignore[attr-defined]
    assert page.get_by_test_id("turn").count() == 0  # type: ignore[attr-defined]
    page.get_by_test_id("threads-q").fill("backups")  # type: ignore[attr-defined]
    items = page.get_by_test_id("thread-item")  # type: ignore[attr-defined]
    page.wait_for_function("document.querySelectorAll('[data-testid=thread-item]').length === 1")  # type: ignore[attr-defined]
    assert "3 questions" in items.first.inner_text()
    page.once("dialog", lambda d: d.accept("Backups under Annex 11"))  # type: ignore[attr-defined]
    items.first.get_by_test_id("rename").click()
    page.locator("[data-testid=thread-item] .thread-title", has_text="Backups under Annex 11").wait_for()  # type: ignore[attr-defined]
    items.first.locator(".thread-title").click()
    page.get_by_test_id("turn").nth(1).wait_for()  # type: ignore[attr-defined]
    assert page.get_by_test_id("thread-title").inner_text() == "Backups under Annex 11"  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / f"chat-2-found-again-{width}.png"), full_page=True)  # type: ignore[attr-defined]
    # The cited page opens beside the answer (over it at 390 px) and its close button is on screen.
    page.get_by_test_id("cite-1").first.click()  # type: ignore[attr-defined]
    page.get_by_test_id("highlight-box").first.wait_for()  # type: ignore[attr-defined]
    close = page.locator("#source-close").bounding_box()  # type: ignore[attr-defined]
    assert close is not None and close["x"] >= 0 and close["x"] + close["width"] <= width
    page.screenshot(path=str(SHOTS / f"chat-3-source-{width}.png"))  # type: ignore[attr-defined]
    page.locator("#source-close").click()  # type: ignore[attr-defined]
    assert page.locator("#source").is_hidden()  # type: ignore[attr-defined]


def _api_person(http: httpx.Client, admin_token: str, name: str, role: str) -> dict[str, str]:
    """A user created by the admin, with the token exchanged for their own (as signing in does)."""
    r = http.post("/api/users", json={"name": name, "role": role}, headers={"Authorization": f"Bearer {admin_token}"})
    assert r.status_code == 201, r.text
    r = http.post("/api/me/token", headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.mark.parametrize("width", [1280, 390])
def test_a_cited_pdf_page_opens_with_every_cited_sentence_highlighted(
    served: tuple[str, str], browser: object, width: int
) -> None:
    """Open a citation: the PDF page itself, the quoted sentence boxed on it; step to the next citation
    (another document's page) and through the pages; the panel beside the answer at 1280 px, over it at
    390 px with its close button on screen; Escape closes it."""
    url, admin_token = served
    admin = _sign_in(browser, url, admin_token)
    page = _sign_in(browser, url, _add_user(admin, f"pia-{width}", "staff"), width)
    page.get_by_test_id("question").fill(Q_PDF)  # type: ignore[attr-defined]
    page.get_by_test_id("ask").click()  # type: ignore[attr-defined]
    page.get_by_test_id("status").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    cites = page.locator("[data-testid=answer] .citations li")  # type: ignore[attr-defined]
    assert cites.count() >= 2, "Q_PDF cites Annex 11 and the Part 11 guidance"
    page.get_by_test_id("cite-1").first.click()  # type: ignore[attr-defined]
    box = page.locator("[data-testid=highlight-box][data-n='1']").first  # type: ignore[attr-defined]
    box.wait_for()
    assert page.locator("#source-where").inner_text().startswith("page 4 of")  # type: ignore[attr-defined]
    assert page.get_by_test_id("cite-where").inner_text() == f"citation [1], 1 of {cites.count()}"  # type: ignore[attr-defined]
    # The box lies on the drawn page, inside the panel, and the panel does not cover the answer when wide.
    img = page.locator("#source-img").bounding_box()  # type: ignore[attr-defined]
    b = box.bounding_box()
    assert img and b and img["x"] <= b["x"] and b["x"] + b["width"] <= img["x"] + img["width"] + 1
    panel = page.locator("#source").bounding_box()  # type: ignore[attr-defined]
    answer = page.get_by_test_id("answer").bounding_box()  # type: ignore[attr-defined]
    if width >= 1100:
        assert answer["x"] + answer["width"] <= panel["x"] + 1  # beside
    else:
        assert panel["x"] <= 0 and panel["width"] >= width - 1  # over it, the whole width
    close = page.locator("#source-close").bounding_box()  # type: ignore[attr-defined]
    assert close and close["x"] >= 0 and close["x"] + close["width"] <= width
    page.screenshot(path=str(SHOTS / f"source-1-pdf-page-{width}.png"))  # type: ignore[attr-defined]
    # The next citation: another document, its own page, its own sentence boxed.
    first_title = page.locator("#source-title").inner_text()  # type: ignore[attr-defined]
    page.get_by_test_id("cite-next").click()  # type: ignore[attr-defined]
    page.locator("[data-testid=highlight-box][data-n='2']").first.wait_for()  # type: ignore[attr-defined]
    assert page.locator("#source-title").inner_text() != first_title  # type: ignore[attr-defined]
    assert page.get_by_test_id("cite-where").inner_text().startswith("citation [2], 2 of")  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / f"source-2-next-citation-{width}.png"))  # type: ignore[attr-defined]
    # A page on, then back: the citation's box comes back with its page.
    where = page.locator("#source-where").inner_text()  # type: ignore[attr-defined]
    page.locator("#source-next").click()  # type: ignore[attr-defined]
    page.wait_for_function(f"document.querySelector('#source-where').textContent !== {where!r}")  # type: ignore[attr-defined]
    page.locator("#source-prev").click()  # type: ignore[attr-defined]
    page.wait_for_function(f"document.querySelector('#source-where').textContent === {where!r}")  # type: ignore[attr-defined]
    page.locator("[data-testid=highlight-box][data-n='2'].current").first.wait_for()  # type: ignore[attr-defined]
    page.keyboard.press("Escape")  # type: ignore[attr-defined]
    assert page.locator("#source").is_hidden()  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", [1280, 390])
def test_a_reviewer_sees_the_changed_words_of_a_source_and_opens_its_current_version(
    served: tuple[str, str], browser: object, width: int, tmp_path: Path
) -> None:
    """An approved answer's source is re-uploaded with its cited sentence changed: the re-review card shows
    the words taken out and put in, and opens the current version with the closest passage marked."""
    url, admin_token = served
    name = f"sop-calibration-{width}.txt"
    site = f"B{width}"  # each width's own document and question
    old = f"Balances at site {site} are calibrated every six months by the metrology team and the results are filed."
    new = f"Balances at site {site} are calibrated every three months by an accredited firm and the results are filed."
    admin = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=url, timeout=120) as http:

        def upload(text: str) -> None:
            headers = {**admin, "content-type": "text/plain"}
            r = http.post("/api/documents", params={"filename": name}, content=text.encode(), headers=headers)
            assert r.status_code == 202, r.text
            job_url = f"/api/jobs/{r.json()['id']}"
            while (job := http.get(job_url, headers=admin).json())["status"] in ("queued", "running"):
                time.sleep(0.2)
            assert job["status"] == "done", job

        upload(f"Calibration of balances\n\n{old}\n")
        asker = _api_person(http, admin_token, f"ann-{width}", "staff")
        question = f"How often are balances at site {site} calibrated, and by whom?"
        rec = http.post("/api/ask", json={"question": question}, headers=asker).json()
        assert any(c["file"] == name for c in rec["citations"]), rec
        reviewer = _api_person(http, admin_token, f"rita-{width}", "reviewer")
        reviewer_token = reviewer["Authorization"].removeprefix("Bearer ")
        decision = {"version": 1, "reason": "ok", "acknowledge_unsupported": True}
        r = http.post(f"/api/records/{rec['id']}/approve", json=decision, headers=reviewer)
        assert r.status_code == 200, r.text
        upload(f"Calibration of balances\n\n{new}\n")
    page = _sign_in(browser, url, reviewer_token, width)
    page.goto(f"{url}#/r/{rec['id']}")  # type: ignore[attr-defined]
    diff = page.get_by_test_id("rereview-diff").first  # type: ignore[attr-defined]
    diff.wait_for()
    taken = " ".join(diff.get_by_test_id("word-del").all_inner_texts())
    added = " ".join(diff.get_by_test_id("word-ins").all_inner_texts())
    assert "six" in taken and "metrology" in taken and "six" not in added
    # Only the changed words: the unchanged ones, first and last included, are neither struck nor added.
    assert "Balances" not in taken + added and "filed" not in taken + added
    assert "three" in added and "accredited firm" in added
    page.screenshot(path=str(SHOTS / f"source-3-rereview-{width}.png"), full_page=True)  # type: ignore[attr-defined]
    page.get_by_test_id("rereview-open").first.click()  # type: ignore[attr-defined]
    page.get_by_test_id("source-note").wait_for()  # type: ignore[attr-defined]
    assert "since been replaced" in page.get_by_test_id("source-note").inner_text()  # type: ignore[attr-defined]
    assert "three months" in page.get_by_test_id("source-text").inner_text()  # type: ignore[attr-defined]
    page.locator("[data-testid=highlight][data-n]").first.wait_for()  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", [1280, 390])
def test_an_admin_finds_a_document_corrects_it_and_opens_it_at_a_page(
    served: tuple[str, str], browser: object, width: int
) -> None:
    """The document browser: search, correct the catalog's details (a mistake is said in words, not field
    names), see the outcome, and open the document at page 3 as the page."""
    url, admin_token = served
    page = _sign_in(browser, url, admin_token, width)
    page.get_by_role("button", name="Documents").click()  # type: ignore[attr-defined]
    page.get_by_test_id("docs-q").fill("part11 scope")  # type: ignore[attr-defined]
    row = page.locator("#documents tbody tr[data-file^='FDA_guidance_Part11']")  # type: ignore[attr-defined]
    row.wait_for()
    assert page.locator("#documents tbody tr[data-file]").count() == 1  # type: ignore[attr-defined]
    assert page.get_by_test_id("docs-count").inner_text().startswith("1 of ")  # type: ignore[attr-defined]
    row.get_by_test_id("doc-edit").click()
    form = page.get_by_test_id("doc-edit-form")  # type: ignore[attr-defined]
    form.get_by_test_id("edit-year").fill("3000")
    page.get_by_test_id("doc-edit-save").click()  # type: ignore[attr-defined]
    status = page.get_by_test_id("doc-edit-status")  # type: ignore[attr-defined]
    page.wait_for_function("document.querySelector('[data-testid=doc-edit-status]').textContent.length > 0")  # type: ignore[attr-defined]
    assert status.inner_text().startswith("Year: should be") and "year" not in status.inner_text()
    title = f"Part 11, Electronic Records; Electronic Signatures: Scope and Application ({width})"
    form.get_by_test_id("edit-year").fill("2003")
    form.get_by_test_id("edit-title").fill(title)
    page.get_by_test_id("doc-edit-save").click()  # type: ignore[attr-defined]
    outcome = page.get_by_test_id("upload-outcome")  # type: ignore[attr-defined]
    outcome.wait_for(timeout=120_000)
    assert "updated" in outcome.inner_text()
    page.locator("#documents tbody tr[data-file^='FDA_guidance_Part11'] td", has_text=title).wait_for()  # type: ignore[attr-defined]
    # The table scrolls within itself at 390 px: the page does not grow sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / f"docs-1-corrected-{width}.png"), full_page=True)  # type: ignore[attr-defined]
    row.get_by_test_id("doc-page").fill("3")
    row.get_by_test_id("doc-open").click()
    page.get_by_test_id("source-page").wait_for()  # type: ignore[attr-defined]
    page.wait_for_function("document.querySelector('#source-where').textContent.startsWith('page 3 of')")  # type: ignore[attr-defined]
    assert page.locator("#source-title").inner_text() == title  # type: ignore[attr-defined]
    assert page.get_by_test_id("highlight-box").count() == 0  # type: ignore[attr-defined]
    assert page.locator("#cite-nav").is_hidden()  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / f"docs-2-opened-at-page-3-{width}.png"))  # type: ignore[attr-defined]
    page.keyboard.press("Escape")  # type: ignore[attr-defined]
    assert page.locator("#source").is_hidden()  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", [1280, 390])
def test_a_question_limited_to_a_chosen_document_cites_only_it(
    served: tuple[str, str], browser: object, width: int
) -> None:
    url, admin_token = served
    admin = _sign_in(browser, url, admin_token)
    page = _sign_in(browser, url, _add_user(admin, f"lima-{width}", "staff"), width)
    page.get_by_test_id("limits-summary").click()  # type: ignore[attr-defined]
    options = page.locator("#limit-docs option")  # type: ignore[attr-defined]
    options.first.wait_for(state="attached")
    part11 = next(o for o in options.all() if (o.get_attribute("title") or "").startswith("FDA_guidance_Part11"))
    page.get_by_test_id("limit-docs").select_option(part11.get_attribute("value"))  # type: ignore[attr-defined]
    assert page.get_by_test_id("limits-summary").inner_text() == "Searching only: 1 chosen document"  # type: ignore[attr-defined]
    page.get_by_test_id("question").fill(Q_PDF)  # type: ignore[attr-defined]
    page.get_by_test_id("ask").click()  # type: ignore[attr-defined]
    page.get_by_test_id("status").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    links = page.locator("[data-testid=answer] .citations a").all_inner_texts()  # type: ignore[attr-defined]
    assert links and all("Annex 11" not in t for t in links), links
    page.screenshot(path=str(SHOTS / f"chat-4-limited-{width}.png"), full_page=True)  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", [1280, 390])
def test_a_consultant_exports_a_client_version_in_their_order(
    served: tuple[str, str], browser: object, width: int
) -> None:
    """Two approved answers picked under two different searches are both in the export panel (nothing hidden
    is exported unseen); the consultant puts them in order, writes a heading and an introduction, and the
    client DOCX has exactly that, without approvals, its properties naming the consultant."""
    url, admin_token = served
    questions = [
        "What must audit trails record under Part 11?",
        "How should electronic records be protected against damage under Annex 11?",
    ]
    with httpx.Client(base_url=url, timeout=120) as http:
        consultant = _api_person(http, admin_token, f"cora-{width}", "consultant")
        reviewer = _api_person(http, admin_token, f"rex-{width}", "reviewer")
        for q in questions:
            rec = http.post("/api/ask", json={"question": q}, headers=consultant).json()
            decision = {"version": 1, "reason": "ok", "acknowledge_unsupported": True}
            r = http.post(f"/api/records/{rec['id']}/approve", json=decision, headers=reviewer)
            assert r.status_code == 200, r.text
    page = _sign_in(browser, url, consultant["Authorization"].removeprefix("Bearer "), width)
    page.get_by_role("button", name="Library").click()  # type: ignore[attr-defined]
    for q, word in zip(questions, ["Part 11", "damage"], strict=True):
        page.get_by_test_id("library-q").fill(word)  # type: ignore[attr-defined]
        page.get_by_test_id("library-q").press("Enter")  # type: ignore[attr-defined]
        item = page.locator("#library-list li", has_text=q).first  # type: ignore[attr-defined]
        item.wait_for()
        item.get_by_test_id("select").check()
    page.locator("#library-list li", has_text=questions[0]).wait_for(state="detached", timeout=10_000)  # type: ignore[attr-defined]
    items = page.get_by_test_id("export-item")  # type: ignore[attr-defined]
    assert items.count() == 2  # the first pick is hidden by the second search, and still listed here
    items.nth(1).get_by_test_id("export-up").click()
    items.nth(0).get_by_test_id("export-heading").fill("Protecting electronic records")
    page.get_by_test_id("export-intro").fill("Dear Ms Doe,\n\nOur answers follow.")  # type: ignore[attr-defined]
    page.get_by_test_id("export-client").check()  # type: ignore[attr-defined]
    page.screenshot(path=str(SHOTS / f"export-1-panel-{width}.png"), full_page=True)  # type: ignore[attr-defined]
    with page.expect_download() as dl:  # type: ignore[attr-defined]
        page.get_by_test_id("export-docx").click()  # type: ignore[attr-defined]
    target = SHOTS / f"export-client-{width}.docx"
    dl.value.save_as(str(target))
    from docx import Document

    doc = Document(io.BytesIO(target.read_bytes()))
    headings = [p.text for p in doc.paragraphs if p.style.name.startswith("Heading")]
    assert headings == ["1. Protecting electronic records", f"2. {questions[0]}", "References"]
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "Dear Ms Doe," in text and "Our answers follow." in text and "Approved by" not in text
    assert doc.core_properties.author == f"cora-{width}"


@pytest.mark.parametrize("width", [1280, 390])
def test_a_reader_rates_an_answer_and_a_reviewer_works_the_queue_with_filters(
    served: tuple[str, str], browser: object, width: int
) -> None:
    """A staff member gives a thumbs down with a reason; the reviewer filters the queue to that asker, finds
    the question once with its two drafts, reads the complaint on the answer, and sees their own question
    marked as theirs; the evaluator sees the rating counted."""
    url, admin_token = served
    question = f"What does Annex 11 require before a computerised system goes live at site Q{width}?"
    with httpx.Client(base_url=url, timeout=120) as http:
        staff = _api_person(http, admin_token, f"sam-{width}", "staff")
        reviewer = _api_person(http, admin_token, f"rhea-{width}", "reviewer")
        evaluator = _api_person(http, admin_token, f"eve-{width}", "evaluator")
        http.post("/api/ask", json={"question": question}, headers=staff).raise_for_status()
        http.post(
            "/api/ask", json={"question": f"Who approves changes at site R{width}?"}, headers=reviewer
        ).raise_for_status()
    page = _sign_in(browser, url, staff["Authorization"].removeprefix("Bearer "), width)
    page.get_by_test_id("question").fill(question)  # type: ignore[attr-defined]
    page.get_by_test_id("ask").click()  # type: ignore[attr-defined]
    page.get_by_test_id("status").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    page.get_by_test_id("thumbs-down").click()  # type: ignore[attr-defined]
    page.get_by_test_id("feedback-send").click()  # type: ignore[attr-defined]
    note = page.get_by_test_id("feedback-note")  # type: ignore[attr-defined]
    page.wait_for_function("document.querySelector('[data-testid=feedback-note]').textContent.startsWith('say')")  # type: ignore[attr-defined]
    page.get_by_test_id("feedback-reason").fill("It does not say who signs the validation report")  # type: ignore[attr-defined]
    page.get_by_test_id("feedback-send").click()  # type: ignore[attr-defined]
    page.wait_for_function("document.querySelector('[data-testid=feedback-note]').textContent.startsWith('Thank you')")  # type: ignore[attr-defined]
    assert "who signs the validation report" in note.inner_text()

    rhea = _sign_in(browser, url, reviewer["Authorization"].removeprefix("Bearer "), width)
    rhea.get_by_role("button", name="Review queue").click()  # type: ignore[attr-defined]
    rhea.get_by_test_id("queue-card").first.wait_for()  # type: ignore[attr-defined]
    rhea.get_by_test_id("queue-asker").select_option(f"sam-{width}")  # type: ignore[attr-defined]
    cards = rhea.get_by_test_id("queue-card")  # type: ignore[attr-defined]
    assert cards.count() == 1 and "2 drafts" in cards.first.inner_text()
    assert cards.first.get_by_test_id("draft-link").count() == 2
    assert cards.first.get_by_test_id("yours").count() == 0
    assert rhea.evaluate("document.documentElement.scrollWidth") <= width  # type: ignore[attr-defined]
    rhea.screenshot(path=str(SHOTS / f"review-1-filtered-{width}.png"), full_page=True)  # type: ignore[attr-defined]
    rhea.get_by_test_id("queue-asker").select_option(f"rhea-{width}")  # type: ignore[attr-defined]
    assert rhea.get_by_test_id("queue-card").first.get_by_test_id("yours").count() == 1  # type: ignore[attr-defined]
    rhea.get_by_test_id("queue-asker").select_option(f"sam-{width}")  # type: ignore[attr-defined]
    # Newest first: the draft asked in the browser, the one rated, comes first.
    oldest = cards.first.get_by_test_id("draft-link").first.get_attribute("href")
    rhea.get_by_test_id("queue-sort").select_option("newest")  # type: ignore[attr-defined]
    assert cards.first.get_by_test_id("draft-link").last.get_attribute("href") == oldest
    cards.first.get_by_test_id("draft-link").first.click()
    ratings = rhea.get_by_test_id("feedback-list")  # type: ignore[attr-defined]
    ratings.wait_for()
    assert "who signs the validation report" in ratings.inner_text() and f"sam-{width}" in ratings.inner_text()
    # A mistake is said in words, never as the API's field names.
    rhea.get_by_test_id("reject").click()  # type: ignore[attr-defined]
    error = rhea.get_by_test_id("review-error")  # type: ignore[attr-defined]
    rhea.wait_for_function("document.querySelector('[data-testid=review-error]').textContent.length > 0")  # type: ignore[attr-defined]
    assert error.inner_text() == "Reason: cannot be empty", error.inner_text()
    rhea.screenshot(path=str(SHOTS / f"review-2-ratings-{width}.png"), full_page=True)  # type: ignore[attr-defined]

    eve = _sign_in(browser, url, evaluator["Authorization"].removeprefix("Bearer "), width)
    eve.get_by_role("button", name="Evaluations").click()  # type: ignore[attr-defined]
    counts = eve.get_by_test_id("ratings-counts")  # type: ignore[attr-defined]
    counts.wait_for()
    assert "not helpful" in counts.inner_text()
