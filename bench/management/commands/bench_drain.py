"""End to end: tickets submitted through ``ticket_submit``, decided by real Celery worker processes.

    manage.py bench_drain --tickets 2000 --workers 1,2 --idle 30 --json OUT          # a private database!
    AGENT_LLM=local AGENT_LLM_ROLE=confirm manage.py bench_drain --tickets 200 ...  # with the local LLM

The worker is the production one (``celery -A config worker``, prefork pool), started with this
process's environment, so ``AGENT_LLM``/``AGENT_LLM_ROLE`` apply to both. For each worker count (pool
processes, ``--concurrency``), one worker is started and then:

1. warm-up: a few tickets the agent acts on (the router is built at process start, the local model on
   first use); its memory is read (idle, after warm-up);
2. idle: ``--idle`` tickets, each submitted once the previous one is settled: submit -> decided on an
   otherwise idle worker;
3. backlog: the worker stops consuming the queue (Celery remote control), ``--tickets`` tickets are
   submitted and wait on the broker, the worker consumes again and is timed until every ticket is
   decided and every execution it caused has finished; its memory is read after the drain.

Definitions: *decided* = the ``finished_at`` of the ticket's first decided ``AgentRun`` (execute,
needs approval, escalate, ask); *claimed* = its move to "triaging" (the worker took it). The hourly
budgets of the catalog actions are raised (an audited catalog edit by the demo lead) so that the whole
backlog takes the real path instead of escalating on the budget rule after 30 executions.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Min
from django.utils import timezone

from agents.models import DECIDED_OUTCOMES, AgentRun
from config.celery import app as celery_app
from governance.controls import catalog_action_update
from governance.models import CatalogAction, Execution, ExecutionStatus
from servicedesk.models import StatusChange, Ticket, TicketStatus
from servicedesk.services import ticket_submit

EMPLOYEES = ["alice", "bob", "carol", "dave"]
BUDGET = 1_000_000
POLL_SECONDS = 0.05
WARM_UP = ["I forgot my password and can't log in to my laptop", "Could you install Zoom on my machine?"]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load_texts(path: Path) -> list[str]:
    """The labelled IT requests (acted on, needing approval, out of scope, injections), else a fallback."""
    if path.exists():
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return [str(r["text"]) for r in rows]
    from bench.management.commands.seed_history import SUBJECTS

    return list(SUBJECTS.values())


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    started: datetime
    log: Path
    name: str

    def memory(self) -> dict[str, Any]:
        """RSS and PSS of the worker's main process and its pool children (PSS shares forked pages)."""
        main = psutil.Process(self.process.pid)
        tree = [main, *main.children(recursive=True)]
        rss = pss = 0
        for proc in tree:
            info = proc.memory_full_info()
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
        mb = 1024 * 1024
        return {
            "processes": len(tree),
            "rss_mb": round(rss / mb, 1),
            "pss_mb": round(pss / mb, 1),
            "main_rss_mb": round(main.memory_info().rss / mb, 1),
        }

    def stop(self) -> None:
        """Warm shutdown (SIGTERM, the running tasks finish); kill this worker's own tree if it hangs."""
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for child in children:
            if child.is_running():
                child.kill()


class Bench:
    def __init__(self, *, queue: str, log_dir: Path, report: Any) -> None:
        self.queue = queue
        self.log_dir = log_dir
        self.report = report
        self.users = {u.username: u for u in User.objects.filter(username__in=EMPLOYEES)}
        if len(self.users) != len(EMPLOYEES):
            raise CommandError("the demo employees are missing: run load_demo_org first")

    def start_worker(self, concurrency: int, label: str) -> Worker:
        log = self.log_dir / f"worker-{label}.log"
        env = {**os.environ, "CELERY_QUEUE": self.queue}
        args = ["-A", "config", "worker", "--loglevel", "INFO", "--concurrency", str(concurrency)]
        args += ["--without-gossip", "--without-mingle", "--queues", self.queue]
        name = f"bench-{label}-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
        args += ["--hostname", name]
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [sys.executable, "-m", "celery", *args],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return Worker(process, timezone.now(), log, name)

    def warm_up(self, worker: Worker, count: int) -> dict[str, Any]:
        """Tickets the agent acts on (the local model, if any, loads on first use), then memory."""
        ids = [self.submit(1, WARM_UP, offset=i)[0] for i in range(count)]
        if not self.wait(min(ids), max(ids), worker, timeout=600):
            raise CommandError(f"the warm-up tickets were not decided; see {worker.log}")
        ready = (timezone.now() - worker.started).total_seconds()
        return {"warm_up_seconds": round(ready, 1), "memory_idle": worker.memory()}

    def idle_tickets(self, worker: Worker, texts: list[str], count: int) -> dict[str, Any]:
        """``count`` tickets, each submitted once the previous one is settled."""
        ids = []
        for i in range(count):
            (last,) = self.submit(1, texts, offset=i * 7)  # a stride through the texts and requesters
            ids.append(last)
            self.wait(last, last, worker, timeout=600)
        if not ids:
            return {}
        out = figures(timings(min(ids), max(ids)), worker.started)
        keep = ("tickets", "decided", "outcomes", "tickets_with_llm", "llm_calls")
        return {
            k: v for k, v in out.items() if k in keep or k.startswith(("submit_to", "claim_to", "agent_"))
        }

    def consume(self, worker: Worker, on: bool) -> datetime:
        """Start or stop the worker consuming the queue (remote control), so the backlog builds up on
        the broker while the warm worker waits; returns when the worker confirmed."""
        control = celery_app.control
        call = control.add_consumer if on else control.cancel_consumer
        replies = call(self.queue, destination=[worker.name], reply=True, timeout=10)
        if not replies:
            raise CommandError(f"the worker did not answer the remote control; see {worker.log}")
        return timezone.now()

    def submit(self, n: int, texts: list[str], offset: int = 0) -> list[int]:
        ids = []
        for i in range(offset, offset + n):
            text = texts[i % len(texts)]
            requester = self.users[EMPLOYEES[(i // len(texts)) % len(EMPLOYEES)]]
            subject = text.splitlines()[0][:80] if text.strip() else "IT request"
            ids.append(ticket_submit(requester=requester, subject=subject, description=text).pk)
        return ids

    def queued(self) -> int | None:
        """Messages waiting on the broker queue (a check that the backlog really is on the broker)."""
        try:
            with celery_app.connection_for_write() as conn:
                channel = conn.default_channel
                return int(channel.queue_declare(self.queue, passive=True).message_count)  # type: ignore[attr-defined]
        except Exception:
            return None

    @staticmethod
    def pending(first: int, last: int) -> int:
        """Tickets not yet decided plus executions not yet finished, in the id range."""
        undecided = Ticket.objects.filter(
            pk__range=(first, last), status__in=[TicketStatus.NEW, TicketStatus.TRIAGING]
        ).count()
        running = Execution.objects.filter(
            ticket__pk__range=(first, last), status=ExecutionStatus.STARTED
        ).count()
        return undecided + running

    def wait(self, first: int, last: int, worker: Worker, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        next_note = time.monotonic() + 15
        while (left := self.pending(first, last)) > 0:
            if worker.process.poll() is not None:
                raise CommandError(f"the worker exited ({worker.process.returncode}); see {worker.log}")
            if time.monotonic() > deadline:
                self.report(f"  timed out with {left} tickets or executions pending")
                return False
            if time.monotonic() > next_note:
                self.report(f"  ... {left} tickets or executions pending")
                next_note = time.monotonic() + 15
            time.sleep(POLL_SECONDS)
        return True


def timings(first: int, last: int) -> dict[str, Any]:
    """Per-ticket timestamps from the database: submitted, claimed, decided; executions finished."""
    tickets = dict(Ticket.objects.filter(pk__range=(first, last)).values_list("pk", "created_at"))
    claimed = dict(
        StatusChange.objects.filter(ticket__pk__range=(first, last), to_status=TicketStatus.TRIAGING)
        .values("ticket_id")
        .annotate(at=Min("created_at"))
        .values_list("ticket_id", "at")
    )
    runs = AgentRun.objects.filter(ticket__pk__range=(first, last), outcome__in=DECIDED_OUTCOMES).order_by(
        "finished_at"
    )
    decided: dict[int, datetime] = {}
    outcomes: Counter[str] = Counter()
    agent_ms, llm_calls, with_llm = [], 0, 0
    for run in runs.only("ticket_id", "finished_at", "outcome", "latency_ms", "llm_calls"):
        if run.ticket_id in decided or run.finished_at is None:
            continue
        decided[run.ticket_id] = run.finished_at
        outcomes[run.outcome] += 1
        agent_ms.append(float(run.latency_ms))
        llm_calls += run.llm_calls
        with_llm += bool(run.llm_calls)
    executions = Execution.objects.filter(ticket__pk__range=(first, last))
    executed = [e for e in executions.values_list("finished_at", flat=True) if e is not None]
    return {
        "tickets": tickets,
        "claimed": claimed,
        "decided": decided,
        "outcomes": dict(outcomes),
        "agent_ms": agent_ms,
        "llm_calls": llm_calls,
        "tickets_with_llm": with_llm,
        "executions": dict(Counter(executions.values_list("status", flat=True))),
        "last_execution": max(executed) if executed else None,
        "statuses": dict(
            Counter(Ticket.objects.filter(pk__range=(first, last)).values_list("status", flat=True))
        ),
    }


def figures(t: dict[str, Any], started: datetime) -> dict[str, Any]:
    decided, claimed, tickets = t["decided"], t["claimed"], t["tickets"]
    submit_to_decided = [(decided[k] - tickets[k]).total_seconds() for k in decided]
    service = [(decided[k] - claimed[k]).total_seconds() * 1000 for k in decided if k in claimed]
    n = len(tickets)
    out: dict[str, Any] = {
        "tickets": n,
        "decided": len(decided),
        "outcomes": t["outcomes"],
        "statuses": t["statuses"],
        "executions": t["executions"],
        "llm_calls": t["llm_calls"],
        "tickets_with_llm": t["tickets_with_llm"],
        "submit_to_decided_s_p50": _round(percentile(submit_to_decided, 0.5)),
        "submit_to_decided_s_p95": _round(percentile(submit_to_decided, 0.95)),
        "claim_to_decided_ms_p50": _round(percentile(service, 0.5)),
        "claim_to_decided_ms_p95": _round(percentile(service, 0.95)),
        "agent_understand_ms_p50": percentile(t["agent_ms"], 0.5),
        "agent_understand_ms_p95": percentile(t["agent_ms"], 0.95),
    }
    if decided and claimed:  # the window starts when the workers started consuming the queue
        last_decided = max(decided.values())
        done = max(last_decided, t["last_execution"] or last_decided)
        out["first_claim_after_s"] = _round((min(claimed.values()) - started).total_seconds())
        out["decide_seconds"] = _round((last_decided - started).total_seconds())
        out["drain_seconds"] = _round((done - started).total_seconds())
        out["decided_per_second"] = _round(len(decided) / max(out["decide_seconds"], 1e-3))
        out["drain_tickets_per_second"] = _round(n / max(out["drain_seconds"], 1e-3))
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class Command(BaseCommand):
    help = "Drain a backlog of tickets with real Celery workers: rate, submit->decided, worker memory."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tickets", type=int, default=2000, help="backlog size per worker count")
        parser.add_argument(
            "--workers", default="1,2", help="worker counts (pool processes), comma-separated"
        )
        parser.add_argument("--idle", type=int, default=30, help="tickets one at a time on an idle worker")
        parser.add_argument(
            "--texts", default=str(settings.BASE_DIR.parent / "shared/eval/it_requests.jsonl")
        )
        parser.add_argument(
            "--timeout", type=float, default=0, help="seconds per drain (0: 300 + 10 s a ticket)"
        )
        parser.add_argument("--log-dir", default=str(settings.DATA_DIR / "bench" / "logs"))
        parser.add_argument("--json", dest="json_out", help="write the figures here")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        log_dir = Path(options["log_dir"])
        log_dir.mkdir(parents=True, exist_ok=True)
        queue = f"bench-{uuid.uuid4().hex[:8]}"
        settings.CELERY_TASK_DEFAULT_QUEUE = queue  # core.queue.enqueue reads it at call time
        bench = Bench(queue=queue, log_dir=log_dir, report=self.stderr.write)
        self._raise_budgets()
        texts = load_texts(Path(options["texts"]))
        mode = f"AGENT_LLM={settings.AGENT_LLM} AGENT_LLM_ROLE={settings.AGENT_LLM_ROLE}"
        result: dict[str, Any] = {
            "agent_llm": settings.AGENT_LLM,
            "agent_llm_role": settings.AGENT_LLM_ROLE,
            "broker": settings.CELERY_BROKER_URL.split("://")[0],
            "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
            "texts": len(texts),
            "runs": [],
        }
        for workers in [int(w) for w in options["workers"].split(",") if w.strip()]:
            timeout = options["timeout"] or 300 + 10 * options["tickets"]
            run = self._run(bench, texts, workers, options["tickets"], options["idle"], timeout)
            result["runs"].append(run)
            self.stdout.write(f"{mode}, {workers} worker(s): " + json.dumps(run, default=str))
        if options["json_out"]:
            Path(options["json_out"]).write_text(json.dumps(result, indent=2, default=str))

    def _raise_budgets(self) -> None:
        lead = User.objects.filter(username="judy").first()
        if lead is None:
            raise CommandError("no user 'judy': run load_demo_org first")
        for action in CatalogAction.objects.exclude(hourly_budget__gte=BUDGET):
            catalog_action_update(action=action, by=lead, changes={"hourly_budget": BUDGET})

    def _run(
        self, bench: Bench, texts: list[str], workers: int, n: int, idle: int, timeout: float
    ) -> dict[str, Any]:
        """One worker with ``workers`` pool processes: warm-up, idle tickets, then the backlog."""
        worker = bench.start_worker(workers, f"w{workers}")
        try:
            warm = bench.warm_up(worker, 2 * workers)
            idle_figures = bench.idle_tickets(worker, texts, idle)
            bench.consume(worker, False)
            self.stderr.write(f"backlog of {n} tickets for {workers} worker(s)...")
            t0 = time.perf_counter()
            ids = bench.submit(n, texts)
            submit_seconds = time.perf_counter() - t0
            queued = bench.queued()
            started = bench.consume(worker, True)
            finished = bench.wait(min(ids), max(ids), worker, timeout)
            memory = worker.memory()
        finally:
            worker.stop()
        return {
            "workers": workers,
            **warm,
            "idle": idle_figures,
            "backlog": {
                "submit_per_second": round(n / submit_seconds, 1),
                "queued_on_broker": queued,
                "finished": finished,
                **figures(timings(min(ids), max(ids)), started),
                "memory_after_drain": memory,
            },
        }
