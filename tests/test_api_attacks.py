"""Attacks on a running `regassist serve`, each as the trust review found it (issue: trust holes).

Every test here is the attack itself: threads racing an edit against an approval, a reviewer approving
their own text behind a one-character change, an admin signing off through a token they issued, bodies
that are huge, slow or unauthenticated, and a 1,600-word quote for the page endpoint.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, free_port, wait_ready
from tests.test_api_review import Q_PDF, Q_TXT

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Served:
    """A `regassist serve` process over a copy of the desk template, and its people."""

    def __init__(self, url: str, data: Path, proc: subprocess.Popen[str]) -> None:
        self.url = url
        self.data = data
        self.proc = proc
        self.http = httpx.Client(base_url=url, timeout=60)

    def person(self, name: str, role: str) -> dict[str, str]:
        """A user as an admin creates them and they then exchange the token for their own."""
        r = self.http.post("/api/users", json={"name": name, "role": role}, headers=ADMIN)
        assert r.status_code == 201, r.text
        issued = {"Authorization": f"Bearer {r.json()['token']}"}
        r = self.http.post("/api/me/token", headers=issued)
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def ask(self, who: dict[str, str], question: str) -> dict[str, object]:
        r = self.http.post("/api/ask", json={"question": question}, headers=who)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def record(self, record_id: object) -> dict[str, object]:
        return dict(self.http.get(f"/api/records/{record_id}", headers=ADMIN).json())

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, desk_template: Path) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("attacked")
    shutil.copytree(desk_template / "corpus", root / "corpus")
    shutil.copytree(desk_template / "data", root / "data")
    port = free_port()
    env = {
        **os.environ,
        "REGASSIST_DATA_DIR": str(root / "data"),
        "REGASSIST_CORPUS_DIR": str(root / "corpus"),
        "REGASSIST_ADMIN_TOKEN": ADMIN_TOKEN,
        "REGASSIST_RATE_LIMIT": "100000/minute",
        "REGASSIST_HEADER_TIMEOUT_S": "2",
        "REGASSIST_BODY_TIMEOUT_S": "2",
        "PYTHONUNBUFFERED": "1",
    }
    log = open(root / "serve.log", "w")  # noqa: SIM115 - closed at teardown
    exe = Path(sys.executable).parent / "regassist"
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, text=True, env=env
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    wait_ready(url, proc, root / "serve.log", deadline)
    s = Served(url, root / "data", proc)
    yield s
    s.http.close()
    proc.terminate()
    proc.wait(30)
    log.close()


def test_an_edit_racing_an_approval_never_leaves_an_unreviewed_version_approved(served: Served) -> None:
    consultant = served.person("race-consultant", "consultant")
    editor = served.person("race-editor", "reviewer")
    approver = served.person("race-approver", "reviewer")
    outcomes = []
    for trial in range(6):
        rec = served.ask(consultant, Q_TXT)
        results: dict[str, int] = {}

        def edit(rec_id: object = rec["id"], results: dict[str, int] = results) -> None:
            r = served.http.post(
                f"/api/records/{rec_id}/edit",
                json={"text": "Audit trails are optional and can be disabled at will. [1]", "version": 1},
                headers=editor,
            )
            results["edit"] = r.status_code

        def approve(rec_id: object = rec["id"], results: dict[str, int] = results) -> None:
            r = served.http.post(f"/api/records/{rec_id}/approve", json={"version": 1}, headers=approver)
            results["approve"] = r.status_code

        a, b = threading.Thread(target=edit), threading.Thread(target=approve)
        a.start()
        time.sleep(0.05 * (trial % 3))  # the approval lands during the edit's re-verification, or just after
        b.start()
        a.join()
        b.join()
        assert set(results.values()) <= {200, 409}, results  # a lost race is a 409, never a 500
        final = served.record(rec["id"])
        reviews = final["reviews"]
        assert isinstance(reviews, list)
        if final["status"] == "approved":
            # What is approved is exactly what its reviewer read.
            assert reviews[-1]["version"] == final["current_version"], (results, final["current_version"])
            assert "optional" not in str(final["text"])
        outcomes.append((results.get("edit"), results.get("approve"), final["status"], final["current_version"]))
    # Whatever the interleaving, the edited text never sits approved without a review of it.
    assert all(not (st == "approved" and v == 2) for _, _, st, v in outcomes), outcomes


def test_two_concurrent_edits_one_wins_the_other_gets_409(served: Served) -> None:
    consultant = served.person("pair-consultant", "consultant")
    r1, r2 = served.person("pair-r1", "reviewer"), served.person("pair-r2", "reviewer")
    rec = served.ask(consultant, Q_TXT)
    kept = rec["claims"][0]["text"]  # type: ignore[index]
    codes: list[int] = []

    def edit(who: dict[str, str], note: str) -> None:
        r = served.http.post(
            f"/api/records/{rec['id']}/edit", json={"text": f"{kept} [1]", "note": note, "version": 1}, headers=who
        )
        codes.append(r.status_code)

    threads = [threading.Thread(target=edit, args=(w, n)) for w, n in ((r1, "one"), (r2, "two"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409], codes
    assert served.record(rec["id"])["current_version"] == 2


def test_four_eyes_holds_through_a_one_character_change_and_admin_issued_tokens(served: Served) -> None:
    consultant = served.person("fe-consultant", "consultant")
    writer = served.person("fe-writer", "reviewer")
    rec = served.ask(consultant, Q_TXT)
    text = f"{rec['claims'][0]['text']} [1]"  # type: ignore[index]
    assert served.http.post(
        f"/api/records/{rec['id']}/edit", json={"text": text, "version": 1}, headers=writer
    ).is_success
    # The asker changes one character of the reviewer's text; the reviewer then tries to approve it.
    tweaked = text.replace(".", " .", 1) if "." in text[:-4] else text + " "
    r = served.http.post(f"/api/records/{rec['id']}/edit", json={"text": tweaked, "version": 2}, headers=consultant)
    assert r.status_code == 200, r.text
    r = served.http.post(f"/api/records/{rec['id']}/approve", json={"version": 3}, headers=writer)
    assert r.status_code == 403 and "four eyes" in r.json()["error"]
    # An admin creates a reviewer, or reissues one's token, and tries to sign off with it.
    r = served.http.post("/api/users", json={"name": "fe-sock", "role": "reviewer"}, headers=ADMIN)
    sock = {"Authorization": f"Bearer {r.json()['token']}"}
    r = served.http.post(f"/api/records/{rec['id']}/approve", json={"version": 3}, headers=sock)
    assert r.status_code == 403 and "issued by an administrator" in r.json()["error"]
    other = served.person("fe-other", "reviewer")
    users = {u["name"]: u["id"] for u in served.http.get("/api/users", headers=ADMIN).json()}
    r = served.http.post(f"/api/users/{users['fe-other']}/token", headers=ADMIN)
    reissued = {"Authorization": f"Bearer {r.json()['token']}"}
    assert served.http.get("/api/me", headers=other).status_code == 401
    r = served.http.post(f"/api/records/{rec['id']}/approve", json={"version": 3}, headers=reissued)
    assert r.status_code == 403
    # Other reviewers see what was done to reviewers' credentials, and by whom.
    seen = served.http.get("/api/review/credentials", headers=writer).json()
    assert {"action": "user.token", "by": "admin", "reviewer": "fe-other"}.items() <= seen[0].items()
    assert any(e["reviewer"] == "fe-sock" and e["action"] == "user.create" for e in seen)
    # Each refusal is in the audit log, four eyes by name.
    denied = [e for e in served.http.get("/api/audit", params={"action": "denied"}, headers=ADMIN).json()]
    assert any("four eyes" in e["detail"] and e["user_name"] == "fe-writer" for e in denied)


def test_a_refusal_cannot_be_approved_into_the_library(served: Served) -> None:
    staff = served.person("ref-staff", "staff")
    reviewer = served.person("ref-reviewer", "reviewer")
    rec = served.ask(staff, "What is the recommended dose of paracetamol for children?")
    assert rec["abstained"] is True
    r = served.http.post(f"/api/records/{rec['id']}/approve", json={"version": 1}, headers=reviewer)
    assert r.status_code == 409 and "refusal" in r.json()["error"]
    assert rec["id"] not in [x["id"] for x in served.http.get("/api/library", headers=staff).json()]


def test_a_stale_version_is_refused_with_409(served: Served) -> None:
    consultant = served.person("stale-consultant", "consultant")
    reviewer = served.person("stale-reviewer", "reviewer")
    rec = served.ask(consultant, Q_PDF)
    text = f"{rec['claims'][0]['text']} [1]"  # type: ignore[index]
    served.http.post(f"/api/records/{rec['id']}/edit", json={"text": text, "version": 1}, headers=consultant)
    r = served.http.post(f"/api/records/{rec['id']}/approve", json={"version": 1}, headers=reviewer)
    assert r.status_code == 409 and r.json()["error"].startswith("version: you approved version 1")
    assert (
        served.http.post(
            f"/api/records/{rec['id']}/reject", json={"reason": "x", "version": 1}, headers=reviewer
        ).status_code
        == 409
    )


def _raw(served: Served, request: bytes) -> socket.socket:
    host, port = served.url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=30)
    s.sendall(request)
    return s


def _response(s: socket.socket) -> bytes:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        pass
    return data


def test_an_unauthenticated_200_mb_body_is_refused_before_it_is_read(served: Served) -> None:
    before = served.rss_mb()
    for _ in range(4):
        s = _raw(
            served,
            b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 200000000\r\n\r\n" + b"{" + b" " * 65536,
        )
        head = _response(s)
        s.close()
        assert head.startswith(b"HTTP/1.1 401"), head[:200]
    # The server did not buffer the bodies: its memory is where it was (the attack raised it by 1.4 GB).
    assert served.rss_mb() - before < 100
    # A signed-in user's oversized JSON body is refused by its declared length, before it is read.
    s = _raw(
        served,
        b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Length: 200000000\r\n\r\n".encode(),
    )
    assert _response(s).startswith(b"HTTP/1.1 413")
    s.close()


def test_slow_bodies_and_slow_headers_are_cut_off(served: Served) -> None:
    staff = served.person("slow-staff", "staff")
    body = b'{"question": "What does Annex 11 say about audit trails?"}'
    s = _raw(
        served,
        b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: {staff['Authorization']}\r\nContent-Length: {len(body)}\r\n\r\n".encode(),
    )
    t0 = time.time()
    closed = False
    for byte in body[:20]:  # one byte every 1.5 s: each within the 2 s idle limit, the whole far too slow
        try:
            s.sendall(bytes([byte]))
        except OSError:
            closed = True
            break
        time.sleep(1.5)
        if time.time() - t0 > 25:
            break
    head = b"" if closed else _response(s)
    s.close()
    assert closed or head.startswith(b"HTTP/1.1 408"), head[:200]
    assert time.time() - t0 < 25
    # Headers that never finish: the connection is closed after the header timeout.
    s = _raw(served, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    s.settimeout(15)
    t0 = time.time()
    assert s.recv(100) == b""  # closed by the server, without a response
    assert time.time() - t0 < 10
    s.close()


def test_a_1600_word_quote_is_refused_at_once_naming_the_field(served: Served) -> None:
    staff = served.person("quote-staff", "staff")
    doc = served.http.get("/api/documents", headers=staff).json()[0]
    quote = " ".join(f"word{i}" for i in range(1600))
    r = served.http.get(f"/api/documents/{doc['document_id']}/pages/1", params={"quote": quote}, headers=staff)
    assert r.status_code == 422 and r.json()["error"].startswith("quote:")
    # The longest quote allowed, matching nothing, is answered (the locator is linear, not a regex a word).
    worst = " ".join(f"w{i}" for i in range(400))[:2000]
    r = served.http.get(f"/api/documents/{doc['document_id']}/pages/1", params={"quote": worst}, headers=staff)
    assert r.status_code == 200 and r.json()["highlights"] == []
    # Asking still works straight after.
    assert served.ask(staff, Q_PDF)["abstained"] is False


def test_a_double_click_on_start_queues_one_evaluation_run(served: Served) -> None:
    """Two starts of a run sent at once by one evaluator (a double click): one run is queued, the other
    request is told a run is pending, in every trial."""

    def start(barrier: threading.Barrier, who: dict[str, str], codes: list[int], ids: list[str]) -> None:
        barrier.wait()
        r = served.http.post("/api/evals", json={"set": "bundled-dev"}, headers=who)
        codes.append(r.status_code)
        if r.status_code == 202:
            ids.append(r.json()["id"])

    for trial in range(4):
        who = served.person(f"double-click-{trial}", "evaluator")
        barrier = threading.Barrier(2)
        codes: list[int] = []
        ids: list[str] = []
        threads = [threading.Thread(target=start, args=(barrier, who, codes, ids)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for job_id in ids:
            served.http.post(f"/api/jobs/{job_id}/cancel", headers=who)
        assert sorted(codes) == [202, 409], (trial, codes)
        runs = served.http.get("/api/evals", headers=who).json()
        assert len([r for r in runs if r["id"] in ids]) == 1


def test_questions_sent_at_once_into_one_conversation_become_consecutive_turns(served: Served) -> None:
    """Six questions posted at the same moment into one conversation (two tabs, a script): each is stored
    as its own turn, numbered 1 to 7 without a gap or a repeat, as `sqlite3` on the file shows too."""
    who = served.person("two-tabs", "staff")
    first = served.ask(who, Q_PDF)
    cid = first["conversation_id"]
    barrier = threading.Barrier(6)
    codes: list[int] = []

    def send(i: int) -> None:
        barrier.wait()
        r = served.http.post("/api/ask", json={"question": f"{Q_TXT} ({i})", "conversation_id": cid}, headers=who)
        codes.append(r.status_code)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 6
    turns = [r["turn"] for r in served.http.get(f"/api/conversations/{cid}", headers=who).json()["records"]]
    assert turns == [1, 2, 3, 4, 5, 6, 7]
    with sqlite3.connect(served.data / "desk.sqlite3") as db:
        rows = db.execute("SELECT turn FROM records WHERE conversation_id = ? ORDER BY turn", (cid,)).fetchall()
    assert [t for (t,) in rows] == turns


def test_pages_drawn_at_once_from_many_threads_all_come_back_whole(served: Served) -> None:
    """PDFium is not thread-safe, even across documents: sixteen viewers opening the pages of both PDFs
    at once, each page drawn for the first time, while cited quotes are boxed on them. Every image comes
    back a whole PNG of the page, and the server is still up."""
    from PIL import Image

    staff = served.person("pages-staff", "staff")
    rec = served.ask(staff, Q_PDF)
    pdfs = [d for d in served.http.get("/api/documents", headers=staff).json() if d["file"].endswith(".pdf")]
    wanted = [(d["document_id"], n) for d in pdfs for n in range(1, d["pages"] + 1)]
    cites = [c["n"] for c in rec["citations"]]  # type: ignore[attr-defined]
    results: list[tuple[str, int, int]] = []
    failures: list[str] = []
    gate = threading.Barrier(16)

    def view(k: int) -> None:
        try:
            look(k)
        except Exception as e:  # a dropped connection is this attack's failure, not the thread's
            failures.append(repr(e))

    def look(k: int) -> None:
        with httpx.Client(base_url=served.url, timeout=120) as http:
            gate.wait()
            for i in range(k, len(wanted), 16):
                doc, n = wanted[i]
                r = http.get(f"/api/documents/{doc}/pages/{n}/image", headers=staff)
                if r.status_code != 200:
                    failures.append(f"{doc} p{n}: {r.status_code} {r.text[:100]}")
                    continue
                image = Image.open(io.BytesIO(r.content))
                image.load()  # a truncated or garbled PNG raises here
                results.append((doc, n, image.width))
                c = cites[i % len(cites)]
                r = http.get(f"/api/records/{rec['id']}/citations/{c}/page", headers=staff)
                if r.status_code != 200 or not r.json()["marks"][0]["boxes"]:
                    failures.append(f"citation [{c}]: {r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=view, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:5]
    assert sorted((d, n) for d, n, _ in results) == sorted(wanted) and {w for *_, w in results} == {1100}
    assert served.proc.poll() is None and served.http.get("/healthz").status_code == 200


def test_ratings_sent_at_once_by_one_reader_leave_one_rating(served: Served) -> None:
    """A reader's double click, or a script, sends eight ratings of one answer at once: every request is
    answered, and the answer has one rating from them, the last one stored."""
    staff = served.person("rating-staff", "staff")
    rec = served.ask(staff, Q_TXT)
    codes: list[int] = []
    gate = threading.Barrier(8)

    def rate(i: int) -> None:
        with httpx.Client(base_url=served.url, timeout=60) as http:
            gate.wait()
            body = {"helpful": i % 2 == 0, "reason": f"try {i}"}
            codes.append(http.put(f"/api/records/{rec['id']}/feedback", json=body, headers=staff).status_code)

    threads = [threading.Thread(target=rate, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 8, codes
    with sqlite3.connect(served.data / "desk.sqlite3") as db:
        rows = db.execute("SELECT COUNT(*) FROM feedback WHERE record_id = ?", (rec["id"],)).fetchone()[0]
    assert rows == 1
