"""`regassist eval`: the test part meets the thresholds written before the run, the report renders in a real
browser, thresholds and comparisons exit non-zero when they should."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from assistant.service import Assistant
from evals.gates import check_thresholds, load_thresholds
from evals.questions import SETS_DIR, load_questions
from evals.report import render
from evals.runner import run_set
from ingest.pipeline import Index

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
TEST_SET = SETS_DIR / "bundled-test.jsonl"


@pytest.fixture(scope="module")
def test_run(corpus_index: Index) -> dict:  # type: ignore[type-arg]
    run = run_set(Assistant(corpus_index), load_questions(TEST_SET), TEST_SET, resamples=300)
    return run.to_dict()


def test_test_part_meets_the_thresholds_written_before_the_run(test_run: dict) -> None:  # type: ignore[type-arg]
    """The CI gate: the held-out test part, default backend, against evals/thresholds.json."""
    failures = check_thresholds(test_run["summary"], load_thresholds(ROOT / "evals" / "thresholds.json"))
    assert not failures, failures
    # Every run records what it ran on.
    v = test_run["versions"]
    assert v["backend"] == "extractive" and v["embed_model"] and v["chunker_version"]
    assert v["corpus"]["documents"] == 24 and len(v["question_set"]["sha256"]) == 16


def test_report_renders_in_a_real_browser(test_run: dict) -> None:  # type: ignore[type-arg]
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    html = ARTIFACTS / "eval-report.html"
    html.write_text(render(test_run, []), encoding="utf-8")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(html.as_uri())
        assert page.title() == "regassist evaluation"
        assert page.locator("svg[aria-label='metric bars'] rect").count() >= 20
        assert page.get_by_text("MCC").first.is_visible()
        # Open the first question's drill-down: its answer and citations become visible.
        first = page.locator("details").first
        first.locator("summary").click()
        assert first.get_by_text("Answer.").is_visible()
        page.screenshot(path=str(ARTIFACTS / "eval-report.png"), full_page=False)
        browser.close()
    assert (ARTIFACTS / "eval-report.png").stat().st_size > 10_000


def _small_set(tmp_path: Path, n: int = 4) -> Path:
    lines = TEST_SET.read_text().splitlines()
    picked = [ln for ln in lines if '"lookup"' in ln][: n - 1] + [ln for ln in lines if '"unanswerable"' in ln][:1]
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join(picked) + "\n")
    return path


def test_cli_run_writes_report_and_exits_nonzero_below_a_threshold(corpus_index: Index, tmp_path: Path) -> None:
    runner = CliRunner()
    small = _small_set(tmp_path)
    data = ["--data-dir", str(corpus_index.data_dir)]
    ok = runner.invoke(app, ["eval", "run", str(small), "--out", str(tmp_path / "a"), "--no-claims", *data])
    assert ok.exit_code == 0, ok.output
    assert "page_hit@5" in ok.output
    results = json.loads((tmp_path / "a" / "results.json").read_text())
    assert len(results["records"]) == 4 and (tmp_path / "a" / "report.html").stat().st_size > 1000
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps({"metrics": {"correct": {"min": 1.01}}}))
    bad = runner.invoke(
        app,
        ["eval", "run", str(small), "--out", str(tmp_path / "b"), "--no-claims", "--thresholds", str(strict), *data],
    )
    assert bad.exit_code == 1 and "correct" in bad.output
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"metrics": {"correct": {"at_least": 0.5}}}))
    err = runner.invoke(
        app, ["eval", "run", str(small), "--out", str(tmp_path / "c"), "--thresholds", str(broken), *data]
    )
    assert err.exit_code == 2 and "metrics.correct" in err.output


def test_compare_flags_a_regression_beyond_the_interval(test_run: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    a = tmp_path / "a.json"
    a.write_text(json.dumps(test_run))
    runner = CliRunner()
    same = runner.invoke(app, ["eval", "compare", str(a), str(a)])
    assert same.exit_code == 0 and "REGRESSION" not in same.output
    worse = json.loads(json.dumps(test_run))
    m = worse["summary"]["metrics"]["page_hit@5"]
    m["value"] = m["low"] - 0.05
    worse["versions"]["settings"]["k"] = 3
    b = tmp_path / "b.json"
    b.write_text(json.dumps(worse))
    res = runner.invoke(app, ["eval", "compare", str(a), str(b)])
    assert res.exit_code == 1
    assert "REGRESSION" in res.output and "settings.k" in res.output


def test_obliqa_runner_skips_with_a_message_when_the_data_is_absent(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["eval", "obliqa", str(tmp_path / "nowhere"), "--work", str(tmp_path / "w")])
    assert res.exit_code == 0 and "skipped" in res.output and "nowhere" in res.output


OBLIQA = ROOT.parent / "shared" / "benchmarks" / "obliqa"


@pytest.mark.skipif(not OBLIQA.is_dir(), reason=f"ObliQA is not at {OBLIQA}")
def test_obliqa_runner_scores_a_sample_of_dev(tmp_path: Path) -> None:
    """The runner end to end on 40 dev questions whose gold passages are in documents 1 and 2."""
    from evals.obliqa import evaluate, load_corpus

    passages, names = load_corpus(OBLIQA)
    assert len(passages) == 13_012 and len(names) == 40
    # Index a slice of the corpus (documents 1 and 2) to keep the test quick.
    sample = tmp_path / "obliqa"
    (sample / "StructuredRegulatoryDocuments").mkdir(parents=True)
    (sample / "derived").mkdir()
    shutil.copy(OBLIQA / "document_map.json", sample / "document_map.json")
    dev = json.loads((OBLIQA / "ObliQA_dev.json").read_text())
    inside = [q for q in dev if all(p["DocumentID"] in (1, 2) for p in q["Passages"])][:40]
    (sample / "ObliQA_dev.json").write_text(json.dumps(inside))
    shutil.copy(OBLIQA / "derived" / "qrels_dev.trec", sample / "derived" / "qrels_dev.trec")
    for doc in ("1", "2"):
        shutil.copy(OBLIQA / "StructuredRegulatoryDocuments" / f"{doc}.json", sample / "StructuredRegulatoryDocuments")
    rows = evaluate(sample, "dev", tmp_path / "work", limit=None)
    by = {r["system"]: r for r in rows}
    assert set(by) == {"BM25", "dense", "hybrid (RRF)", "hybrid (convex, alpha 0.3)"}
    assert all(r["n"] == 40 and r["map@10"] <= r["recall@10"] + 1e-9 for r in rows)
    # On two documents' worth of passages, every system finds most gold passages in its top 10.
    assert by["hybrid (RRF)"]["recall@10"] >= 0.6, rows
    assert by["hybrid (convex, alpha 0.3)"]["recall@10"] >= 0.6, rows
