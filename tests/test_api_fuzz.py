"""The OpenAPI schema fuzzed with schemathesis: whatever it sends, the service never answers 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import DeskEnv
from tests.test_api_roles import MATRIX


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory, desk_template: Path, embedder: object) -> Iterator[DeskEnv]:
    import shutil

    root = tmp_path_factory.mktemp("fuzz") / "desk"
    shutil.copytree(desk_template, root)
    env = DeskEnv(root, embedder, max_upload_bytes=200_000)  # type: ignore[arg-type]
    # Users the fuzzer may disable or re-key without locking itself out.
    env.spare = [env.add_user(f"spare{i}", "staff") for i in range(3)]  # type: ignore[attr-defined]
    yield env
    env.close()


def _fuzz(env: DeskEnv, op: schemathesis.APIOperation, role: str, keep: set[int], spare: int) -> list[str]:
    failures: list[str] = []

    # Valid inputs and, as often, inputs that break the schema on purpose.
    @given(case=st.one_of(op.as_strategy(), op.as_strategy(schemathesis.GenerationMode.NEGATIVE)))
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: schemathesis.Case) -> None:
        if case.path_parameters and case.path_parameters.get("user_id") in keep:
            case.path_parameters["user_id"] = spare  # never lock the fuzzer's own users out
        response = case.call(headers={**(case.headers or {}), **env.auth(role)})
        if op.path == "/api/me/token" and response.status_code == 200:
            env.tokens[role] = response.json()["token"]  # the fuzzer's token was exchanged: use the new one
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}")

    run()
    return failures


def test_no_input_makes_the_service_fail(fuzz_env: DeskEnv) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_env.client.app)
    users = {u["name"]: u["id"] for u in fuzz_env.client.get("/api/users", headers=fuzz_env.auth("admin")).json()}
    keep = {users[f"{r}1"] for r in ("staff", "consultant", "reviewer", "evaluator")}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        op = result.ok()
        operations += 1
        # Each operation is fuzzed as a role allowed to call it, so the fuzzer reaches past the role check.
        role = sorted(MATRIX.get((op.method.upper(), op.path), {"staff"}))[0]
        failures += _fuzz(fuzz_env, op, role, keep, users["spare0"])
    assert operations == len(MATRIX) + 2  # and /healthz, /readyz
    assert not failures, "\n".join(dict.fromkeys(failures))
