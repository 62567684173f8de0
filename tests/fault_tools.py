"""Process-level tools for the fault-injection tests (tests/test_faults_*.py).

- ``Worker``: a real Celery worker (prefork or solo) on its own queue, reading the test database,
  that can be killed with SIGKILL (the main process or one pool child) and started again;
- ``RedisServer``: a private ``redis-server`` on a free port that a test may stop and start;
- ``FakeChatServer``: an OpenAI-compatible ``/v1/chat/completions`` endpoint in a thread, whose
  answer to each request is chosen by a script (sleep past the timeout, HTTP 500, garbage text,
  calls to unknown tools, endless tool calls, or the right tool call);
- ``wait_until``: poll a condition with a deadline, so a hang fails the test instead of CI.

The tests run only on PostgreSQL with a Redis broker (``FAULTS_SKIP``), as CI provides them.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
READY = re.compile(r"pool process (\d+) is ready")


def _faults_unavailable() -> str:
    """Why the fault tests cannot run here, or "" when they can."""
    if os.environ.get("FAULT_TESTS") != "1":
        return "fault tests with real workers need FAULT_TESTS=1 and PostgreSQL + Redis (.ci/run sets them)"
    if connection.vendor != "postgresql":
        return "fault tests need PostgreSQL (set DATABASE_URL=postgres://...); CI provides it"
    if not str(settings.CELERY_BROKER_URL).startswith("redis://"):
        return "fault tests need a Redis broker (set CELERY_BROKER_URL=redis://...); CI provides it"
    if not shutil.which("redis-server") and not Path("/usr/bin/redis-server").exists():
        return "fault tests need the redis-server binary"
    return ""


FAULTS_SKIP = pytest.mark.skipif(bool(_faults_unavailable()), reason=_faults_unavailable() or "-")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def database_url() -> str:
    """The test database, for a worker subprocess."""
    db = connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def wait_until(
    condition: Callable[[], Any], *, timeout: float, interval: float = 0.25, what: str = "condition"
) -> Any:
    """The condition's first truthy value; fails the test when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# --- Celery workers -------------------------------------------------------------------------------


@dataclass
class Worker:
    """A Celery worker subprocess for one test. ``env`` overrides the environment it starts with."""

    queue: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    pool: str = "prefork"
    concurrency: int = 2
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    # Every pid this worker ever had (main and children), so teardown leaves no orphan behind.
    pids: set[int] = field(default_factory=set)

    def start(self) -> None:
        environment = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_QUEUE": self.queue,
            "CELERY_BROKER_URL": str(settings.CELERY_BROKER_URL),
            "DATA_DIR": str(settings.DATA_DIR),
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            self.pool,
            "--concurrency",
            str(self.concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
            "--hostname",
            f"{self.queue}-{self.starts}@%h",
            "--queues",
            self.queue,
        ]
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start {self.starts} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                args, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
            )
        self.pids.add(self.process.pid)
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def children(self) -> list[psutil.Process]:
        """The pool processes of the running main process."""
        if not self.alive or self.process is None:
            return []
        with contextlib.suppress(psutil.Error):
            kids = psutil.Process(self.process.pid).children()
            self.pids.update(kid.pid for kid in kids)
            return kids
        return []

    def ready_pids(self) -> set[int]:
        """Pool processes that said they are ready (``agents.tasks.warm_up_router``: router built)."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return {int(pid) for pid in READY.findall(text)}

    def all_children_ready(self) -> bool:
        children = self.children()
        ready = self.ready_pids()
        return len(children) == self.concurrency and all(child.pid in ready for child in children)

    def busy_children(self, sample: float = 0.15) -> list[psutil.Process]:
        """Pool processes using the CPU now, that is running a task (an idle one waits on a pipe)."""
        children = self.children()
        before = {}
        for child in children:
            with contextlib.suppress(psutil.Error):
                before[child.pid] = sum(child.cpu_times()[:2])
        time.sleep(sample)
        busy = []
        for child in children:
            with contextlib.suppress(psutil.Error):
                if child.pid in before and sum(child.cpu_times()[:2]) - before[child.pid] > 0.01:
                    busy.append(child)
        return busy

    def kill_main(self) -> int:
        """SIGKILL the main process; its pool children are orphaned, as after an OOM kill."""
        assert self.process is not None
        self.children()  # remember them for teardown
        pid = self.process.pid
        os.kill(pid, signal.SIGKILL)
        self.process.wait()
        return pid

    def kill_child(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        """Stop the worker and every process it ever had (orphaned children included)."""
        if self.process is not None and self.process.poll() is None:
            self.children()
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in self.pids:
            with contextlib.suppress(psutil.Error):
                process = psutil.Process(pid)
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    process.kill()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


def new_queue(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- a private Redis ------------------------------------------------------------------------------


class RedisServer:
    """A redis-server on a free port, without persistence, that can be stopped and started again."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        log = (self.workdir / "redis.log").open("ab")
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [binary, *args, "--dir", str(self.workdir)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_until(self._answers, timeout=timeout, interval=0.05, what=f"redis on port {self.port}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def freeze(self) -> None:
        """SIGSTOP: connections are still accepted (by the kernel) but nothing is ever answered."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        """SIGKILL: the broker is gone at once, as in a crash; nothing is flushed."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def broker_for_this_process(url: str) -> Iterator[None]:
    """Point this (the test) process's Celery app at another broker, and back afterwards.

    Celery prefers the ``CELERY_BROKER_URL`` environment variable to its configuration, and keeps
    its connection and producer pools, so all three are switched. The pools are dropped, not
    closed: kombu shares them per broker URL, and the default broker's must stay usable.
    """
    from config.celery import app

    def drop_pools() -> None:
        app._pool = None  # type: ignore[attr-defined]
        app.amqp._producer_pool = None  # type: ignore[attr-defined]

    previous_conf, previous_env = app.conf.broker_url, os.environ.get("CELERY_BROKER_URL")
    drop_pools()
    app.conf.broker_url = url
    os.environ["CELERY_BROKER_URL"] = url
    try:
        yield
    finally:
        drop_pools()
        app.conf.broker_url = previous_conf
        if previous_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = previous_env


# --- a fake OpenAI-compatible model server ----------------------------------------------------------

Behaviour = Callable[[dict[str, Any]], tuple[int, dict[str, Any] | str, float]]


@dataclass
class ChatCall:
    behaviour: str
    ticket_text: str
    tools: list[str]


class FakeChatServer:
    """``POST /v1/chat/completions`` in a thread. ``choose(request) -> behaviour name``; each name maps
    to a function returning (HTTP status, body, seconds to sleep first). Every call is recorded."""

    def __init__(self, choose: Callable[[dict[str, Any]], str]) -> None:
        self.choose = choose
        self.calls: list[ChatCall] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                status, body, delay = server.answer(request)
                if delay:
                    time.sleep(delay)
                payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                with contextlib.suppress(OSError):  # the client may have given up (timeout)
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "FakeChatServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def answer(self, request: dict[str, Any]) -> tuple[int, dict[str, Any] | str, float]:
        name = self.choose(request)
        with self._lock:
            self.calls.append(ChatCall(name, ticket_text(request), tool_names(request)))
        return BEHAVIOURS[name](request)

    def calls_for(self, behaviour: str) -> list[ChatCall]:
        with self._lock:
            return [call for call in self.calls if call.behaviour == behaviour]


def ticket_text(request: dict[str, Any]) -> str:
    """The text between <ticket> and </ticket> in the last user message."""
    users = [m for m in request.get("messages", []) if m.get("role") == "user"]
    content = str(users[0].get("content", "")) if users else ""
    return content.partition("<ticket>")[2].partition("</ticket>")[0].strip()


def tool_names(request: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in request.get("tools", [])]


def _completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "fake-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
    }


def _tool_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"call_{uuid.uuid4().hex[:12]}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


def _offered_action(request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The catalog action the router offered, with the only argument values its schema allows."""
    for tool in request.get("tools", []):
        function = tool["function"]
        if function["name"] not in {"ask_requester", "escalate"}:
            properties = function.get("parameters", {}).get("properties", {})
            return function["name"], {key: spec["enum"][0] for key, spec in properties.items()}
    return "escalate", {"reason": "nothing offered"}


def correct(request: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
    """A healthy model: confirms the offered action (the control that proves the model is consulted)."""
    name, arguments = _offered_action(request)
    message = {"role": "assistant", "content": None, "tool_calls": [_tool_call(name, arguments)]}
    return 200, _completion(message, "tool_calls"), 0.0


def hang(request: dict[str, Any]) -> tuple[int, str, float]:
    """Answers long after the client's timeout (AGENT_LLM_TIMEOUT_SECONDS)."""
    return 200, json.dumps(correct(request)[1]), 4.0


def server_error(request: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
    return 500, {"error": {"message": "internal error", "type": "server_error", "code": None}}, 0.0


def garbage(request: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
    text = "~~ lorem ipsum }{ <tool_call> not json ]] \u2603 " * 3
    return 200, _completion({"role": "assistant", "content": text}, "stop"), 0.0


def garbage_body(request: dict[str, Any]) -> tuple[int, str, float]:
    """HTTP 200 whose body is not JSON at all (a proxy's error page, a truncated answer)."""
    return 200, "<html><body>502 Bad Gateway</body></html>", 0.0


def unknown_tool(request: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
    calls = [_tool_call("delete_user", {"username": "henry"})]
    message = {"role": "assistant", "content": None, "tool_calls": calls}
    return 200, _completion(message, "tool_calls"), 0.0


def endless_tools(request: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
    """A model that never stops calling tools: every answer asks for many more calls, each of an
    offered tool, and never gives a final answer."""
    name, arguments = _offered_action(request)
    calls = [_tool_call(name, arguments) for _ in range(6)]
    calls += [_tool_call("ask_requester", {"question": f"and then step {i}?"}) for i in range(6)]
    message = {"role": "assistant", "content": None, "tool_calls": calls}
    return 200, _completion(message, "tool_calls"), 0.0


BEHAVIOURS: dict[str, Behaviour] = {
    "correct": correct,
    "hang": hang,
    "server_error": server_error,
    "garbage": garbage,
    "garbage_body": garbage_body,
    "unknown_tool": unknown_tool,
    "endless_tools": endless_tools,
}
