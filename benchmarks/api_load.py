"""Load on the service: 1, 8 and 32 concurrent clients asking with the extractive backend.

Run: .venv/bin/python benchmarks/api_load.py [--data-dir .regassist] [--seconds 30]

Starts `regassist serve` on 127.0.0.1 over an existing index (the README's main command builds it), with a
throw-away review database so the benchmark's drafts do not land in anyone's queue, and the rate limit
off. Each client is a thread with its own HTTP connection that asks the bundled questions in a shuffled
order, one after another, for the given number of seconds per level. Every answer is stored as a draft,
as in real use. Prints throughput, median and 95th-percentile latency, and errors per level.
Target (issue 4): at 8 clients, p95 <= 500 ms and no errors.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "ra_benchmark-admin-token"


def questions() -> list[str]:
    out = []
    for path in sorted((ROOT / "evals" / "sets").glob("bundled-*.jsonl")):
        out += [json.loads(x)["question"] for x in path.read_text().splitlines() if x.strip()]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q / 100 * (len(xs) - 1)))]


def level(url: str, token: str, clients: int, seconds: float, qs: list[str]) -> dict[str, float]:
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def worker(seed: int) -> None:
        order = qs[:]
        random.Random(seed).shuffle(order)
        i = 0
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                try:
                    r = c.post("/api/ask", json={"question": order[i % len(order)]})
                    ok = r.status_code == 200
                    why = f"{r.status_code} {r.text[:100]}"
                except httpx.HTTPError as exc:
                    ok, why = False, repr(exc)
                dt = (time.perf_counter() - t) * 1000
                with lock:
                    (lat.append(dt) if ok else errors.append(why))
                i += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    return {
        "clients": clients,
        "requests": len(lat) + len(errors),
        "errors": len(errors),
        "throughput": len(lat) / wall,
        "p50": statistics.median(lat) if lat else float("nan"),
        "p95": percentile(lat, 95) if lat else float("nan"),
        "max": max(lat) if lat else float("nan"),
        "first_error": errors[0] if errors else "",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", type=Path, default=ROOT / ".regassist")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--levels", default="1,8,32")
    args = ap.parse_args()
    if not (args.data_dir / "catalog.sqlite3").exists():
        raise SystemExit(f"no index in {args.data_dir}: run `regassist ingest corpus` first")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "REGASSIST_DATA_DIR": str(args.data_dir),
            "REGASSIST_DATABASE_URL": f"sqlite:///{tmp}/bench-desk.sqlite3",
            "REGASSIST_ADMIN_TOKEN": TOKEN,
            "REGASSIST_RATE_LIMIT_ENABLED": "false",
            "HF_HUB_OFFLINE": "1",
        }
        exe = Path(sys.executable).parent / "regassist"
        server = subprocess.Popen(
            [str(exe), "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            deadline = time.time() + 120
            while time.time() < deadline:
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            else:
                raise SystemExit("the server did not become ready")
            admin = {"Authorization": f"Bearer {TOKEN}"}
            made = httpx.post(f"{url}/api/users", json={"name": "bench", "role": "staff"}, headers=admin)
            staff = made.json()["token"]
            qs = questions()
            level(url, staff, 2, 5, qs)  # warm-up
            rows = [level(url, staff, int(c), args.seconds, qs) for c in args.levels.split(",")]
        finally:
            server.terminate()
            server.wait(30)
    print(f"\nAPI load, extractive backend, {len(qs)} questions, {args.seconds:.0f} s per level, {os.cpu_count()} CPUs")
    print()
    print("| clients | requests | errors | throughput (answers/s) | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['clients']} | {r['requests']} | {r['errors']} | {r['throughput']:.1f} | {r['p50']:.0f} | "
            f"{r['p95']:.0f} | {r['max']:.0f} |"
        )
    for r in rows:
        if r["first_error"]:
            print(f"first error at {r['clients']} clients: {r['first_error']}")


if __name__ == "__main__":
    main()
