"""Intake: tickets created per second through the API of a real gunicorn, next to the raw single-row
insert rate of the same PostgreSQL, with the same number of concurrent clients.

No Django here: the clients speak HTTP (one keep-alive connection per client thread, token auth as the
demo employees) and the raw inserts go through psycopg 3, one INSERT per transaction (autocommit).
"""

import http.client
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg

EMPLOYEES = ["alice", "bob", "carol", "dave"]
RAW_TABLE = "bench_raw_insert"


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Load:
    """What N threads did: per-request latencies (ms), failures, wall time."""

    latencies_ms: list[float]
    failures: list[str]
    seconds: float

    def figures(self) -> dict[str, Any]:
        done = len(self.latencies_ms)
        return {
            "ok": done,
            "failed": len(self.failures),
            "first_failures": self.failures[:3],
            "seconds": round(self.seconds, 3),
            "per_second": round(done / self.seconds, 1) if self.seconds else None,
            "latency_ms_p50": _r(percentile(self.latencies_ms, 0.5)),
            "latency_ms_p95": _r(percentile(self.latencies_ms, 0.95)),
            "latency_ms_p99": _r(percentile(self.latencies_ms, 0.99)),
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def run_threads(total: int, clients: int, make_worker: Callable[[int], Callable[[int], None]]) -> Load:
    """``make_worker(client)`` returns a function doing request number ``n``; ``total`` requests are
    shared among ``clients`` threads. A raised exception counts as a failure."""
    counter = iter(range(total))
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []
    workers = [make_worker(c) for c in range(clients)]

    def loop(work: Callable[[int], None]) -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            t0 = time.perf_counter()
            try:
                work(n)
            except Exception as error:
                with lock:
                    failures.append(f"{type(error).__name__}: {error}"[:300])
                continue
            elapsed = (time.perf_counter() - t0) * 1000
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Load(latencies, failures, time.perf_counter() - started)


def start_gunicorn(*, env: dict[str, str], port: int, log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """The web server as the Procfile runs it (2 workers x 4 threads), on 127.0.0.1:``port``."""
    args = ["config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4"]
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "gunicorn", *args, "--access-logfile", "-"],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({process.returncode}); see {log}")
        try:
            if _request(port, "GET", "/api/tickets/")[0] == 401:
                return process
        except OSError:
            pass
        time.sleep(0.3)
    process.terminate()
    raise RuntimeError(f"gunicorn did not answer within 120 s; see {log}")


def _request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def tokens(port: int, password: str = "demo") -> list[str]:  # noqa: S107 - the demo organisation's
    found = []
    for username in EMPLOYEES:
        form = urlencode({"username": username, "password": password}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        status, body = _request(port, "POST", "/api/auth/token/", form, headers)
        if status != 200:
            raise RuntimeError(f"token for {username}: HTTP {status} {body[:200]!r}")
        found.append(json.loads(body)["token"])
    return found


def api_load(*, port: int, texts: list[str], total: int, clients: int, warm_up: int) -> Load:
    """POST /api/tickets/ ``total`` times from ``clients`` threads, each on its own keep-alive
    connection as one of the demo employees (after ``warm_up`` untimed requests per client)."""
    keys = tokens(port)

    def make_worker(client: int) -> Callable[[int], None]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Token {keys[client % len(keys)]}", "Content-Type": "application/json"}

        def post(n: int) -> None:
            text = texts[n % len(texts)]
            body = json.dumps({"subject": text[:80], "description": text}).encode()
            try:
                conn.request("POST", "/api/tickets/", body=body, headers=headers)
                response = conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection before reading the request: again.
                conn.close()
                conn.request("POST", "/api/tickets/", body=body, headers=headers)
                response = conn.getresponse()
            content = response.read()
            if response.status != 201:
                raise RuntimeError(f"HTTP {response.status} {content[:200]!r}")

        for n in range(warm_up):
            post(n)
        return post

    return run_threads(total, clients, make_worker)


def raw_insert_load(*, dsn: str, texts: list[str], total: int, clients: int) -> Load:
    """The same number of rows and clients, straight into a scratch table shaped like a ticket:
    one INSERT per transaction (autocommit), one connection per client."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
        conn.execute(
            f"CREATE TABLE {RAW_TABLE} (id bigserial PRIMARY KEY, requester_id bigint NOT NULL, "
            "subject varchar(200) NOT NULL, description text NOT NULL, "
            "created_at timestamptz NOT NULL DEFAULT now())"
        )
    connections: list[psycopg.Connection[Any]] = []

    def make_worker(client: int) -> Callable[[int], None]:
        conn = psycopg.connect(dsn, autocommit=True)
        connections.append(conn)

        def insert(n: int) -> None:
            text = texts[n % len(texts)]
            conn.execute(
                f"INSERT INTO {RAW_TABLE} (requester_id, subject, description) VALUES (%s, %s, %s)",  # noqa: S608 - a constant table name
                (client + 1, text[:80], text),
            )

        return insert

    try:
        return run_threads(total, clients, make_worker)
    finally:
        for conn in connections:
            conn.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")


def run(
    *, env: dict[str, str], dsn: str, port: int, texts: list[str], total: int, clients: int, log_dir: Path
) -> dict[str, Any]:
    server = start_gunicorn(env=env, port=port, log=log_dir / "gunicorn.log", cwd=Path.cwd())
    try:
        api = api_load(port=port, texts=texts, total=total, clients=clients, warm_up=3)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    raw = raw_insert_load(dsn=dsn, texts=texts, total=total, clients=clients)
    api_figures, raw_figures = api.figures(), raw.figures()
    ratio = None
    if api_figures["per_second"] and raw_figures["per_second"]:
        ratio = round(api_figures["per_second"] / raw_figures["per_second"], 4)
    return {
        "clients": clients,
        "tickets": total,
        "api": api_figures,
        "raw_insert": raw_figures,
        "api_to_raw_ratio": ratio,
    }
