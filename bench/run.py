"""``make bench``: the benchmarks of docs/performance.md in one run, each on its own fresh database.

    make bench                              # the full run
    BENCH_QUICK=1 make bench                # tiny sizes: checks that every part runs
    BENCH_ONLY=intake,audit make bench      # some parts only (intake, drain, drain_llm, agent,
                                            # dashboards, audit)

PostgreSQL and Redis come from ``.ci/services.sh`` (reused when they are already running). Every part
gets a fresh database ``<BENCH_DB>_<part>`` (migrated, demo organisation loaded); Redis DB
``BENCH_REDIS_DB`` is the broker and the next one the cache, both flushed first. The figures are printed
with their units as they come, then written with the machine to ``BENCH_OUT``. Sizes are environment
knobs (see ``Config``); nothing here asserts a speed.
"""

import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg
import redis
from psycopg import sql

from bench import intake

ROOT = Path(__file__).resolve().parent.parent
PARTS = ["intake", "drain", "drain_llm", "agent", "dashboards", "audit"]
EVAL = ROOT / "eval"


def _int(name: str, full: int, quick: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return quick if os.environ.get("BENCH_QUICK", "") not in {"", "0"} else full
    try:
        return int(value.replace("_", ""))
    except ValueError:
        raise SystemExit(f"{name}={value!r}: expected a whole number") from None


@dataclass(frozen=True)
class Config:
    quick: bool = field(default_factory=lambda: os.environ.get("BENCH_QUICK", "") not in {"", "0"})
    parts: tuple[str, ...] = field(
        default_factory=lambda: tuple(
            p for p in os.environ.get("BENCH_ONLY", ",".join(PARTS)).split(",") if p
        )
    )
    db: str = field(default_factory=lambda: os.environ.get("BENCH_DB", "sd_bench"))
    redis_db: int = field(default_factory=lambda: _int("BENCH_REDIS_DB", 4, 4))
    port: int = field(default_factory=lambda: _int("BENCH_PORT", 8030, 8030))
    out: Path = field(default_factory=lambda: ROOT / os.environ.get("BENCH_OUT", "data/bench/results.json"))
    intake_tickets: int = field(default_factory=lambda: _int("BENCH_INTAKE_TICKETS", 2000, 100))
    clients: int = field(default_factory=lambda: _int("BENCH_CLIENTS", 8, 4))
    tickets: int = field(default_factory=lambda: _int("BENCH_TICKETS", 2000, 40))
    idle: int = field(default_factory=lambda: _int("BENCH_IDLE", 30, 5))
    llm_tickets: int = field(default_factory=lambda: _int("BENCH_LLM_TICKETS", 200, 4))
    llm_idle: int = field(default_factory=lambda: _int("BENCH_LLM_IDLE", 10, 2))
    agent_rows: int = field(default_factory=lambda: _int("BENCH_AGENT_ROWS", 200, 20))
    agent_llm_rows: int = field(default_factory=lambda: _int("BENCH_AGENT_LLM_ROWS", 46, 3))
    seed_days: int = field(default_factory=lambda: _int("BENCH_SEED_DAYS", 120, 60))
    seed_per_day: int = field(default_factory=lambda: _int("BENCH_SEED_PER_DAY", 110, 5))
    synthetic: int = field(default_factory=lambda: _int("BENCH_SYNTHETIC_TICKETS", 1_000_000, 50_000))
    dashboard_runs: int = field(default_factory=lambda: _int("BENCH_DASHBOARD_RUNS", 7, 3))
    audit_events: int = field(default_factory=lambda: _int("BENCH_AUDIT_EVENTS", 1_000_000, 20_000))
    audit_append: int = field(default_factory=lambda: _int("BENCH_AUDIT_APPEND", 2000, 200))

    @property
    def log_dir(self) -> Path:
        return self.out.parent / "logs"


class Services:
    """PostgreSQL and Redis through .ci/services.sh; fresh databases; the environment of each part."""

    def __init__(self, config: Config) -> None:
        self.config = config
        pg_url, broker = self._start()
        match = re.match(r"postgres://([^:]+):([^@]+)@([^:/]+):(\d+)/", pg_url)
        if not match:
            raise SystemExit(f"unexpected DATABASE_URL from .ci/services.sh: {pg_url}")
        self.pg_user, self.pg_password, self.pg_host, self.pg_port = match.groups()
        self.redis_base = broker.rsplit("/", 1)[0]

    def _start(self) -> tuple[str, str]:
        """Start or reuse the servers. services.sh rewrites its shared env file with our database
        name; the file is put back as it was, so other users of the same servers are not redirected."""
        state = Path(os.environ.get("SERVICES_STATE_DIR", "/tmp/servicedesk-services")) / "env"  # noqa: S108
        saved = state.read_text() if state.exists() else None
        script = (
            "source .ci/services.sh && start_postgres >&2 && start_redis >&2 "
            '&& echo "$DATABASE_URL $CELERY_BROKER_URL"'
        )
        try:
            done = subprocess.run(  # noqa: S603
                ["bash", "-c", script],  # noqa: S607
                cwd=ROOT,
                env={**os.environ, "PG_APP_DB": self.config.db},
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            if saved is not None:
                state.write_text(saved)
        if done.returncode != 0:
            raise SystemExit(f".ci/services.sh failed:\n{done.stderr}")
        pg_url, broker = done.stdout.split()[-2:]
        return pg_url, broker

    def url(self, name: str) -> str:
        return f"postgres://{self.pg_user}:{self.pg_password}@{self.pg_host}:{self.pg_port}/{name}"

    def dsn(self, name: str) -> str:
        return f"postgresql://{self.pg_user}:{self.pg_password}@{self.pg_host}:{self.pg_port}/{name}"

    def env(self, database: str, **extra: str) -> dict[str, str]:
        n = self.config.redis_db
        return {
            **os.environ,
            "DATABASE_URL": self.url(database),
            "CELERY_BROKER_URL": f"{self.redis_base}/{n}",
            "CACHE_URL": f"{self.redis_base}/{n + 1}",
            # The per-person limits (30 tickets an hour, 600 API calls a minute) would stop the
            # intake benchmark at once; raised for every part, and said so in the docs.
            "TICKET_RATE": "1000000/hour",
            "API_RATE_USER": "1000000/minute",
            "AGENT_LLM": "local",
            "AGENT_LLM_ROLE": "grey",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }

    def flush_redis(self) -> None:
        for n in (self.config.redis_db, self.config.redis_db + 1):
            redis.Redis.from_url(f"{self.redis_base}/{n}").flushdb()

    def fresh_database(self, part: str) -> str:
        """Drop and create ``<BENCH_DB>_<part>``, migrate it and load the demo organisation."""
        name = f"{self.config.db}_{part}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        manage(["migrate", "--noinput"], self.env(name), f"{part}-migrate")
        manage(["load_demo_org"], self.env(name), f"{part}-demo")
        return name

    def versions(self) -> dict[str, str]:
        with psycopg.connect(self.dsn("postgres")) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            settings: dict[str, str] = dict(
                conn.execute(
                    "SELECT name, setting FROM pg_settings WHERE name IN "
                    "('fsync', 'synchronous_commit', 'shared_buffers', 'max_connections')"
                ).fetchall()
            )
        info = redis.Redis.from_url(f"{self.redis_base}/{self.config.redis_db}").info("server")
        return {
            "postgresql": str(row[0]) if row else "?",
            "postgresql_settings": json.dumps(settings),
            "redis": str(info.get("redis_version", "?")),
        }


def manage(args: list[str], env: dict[str, str], log_name: str) -> str:
    """Run ``manage.py``; its output goes to a log file and is returned. Raises when it fails."""
    log = CONFIG.log_dir / f"{log_name}.log"
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    log.write_text(f"$ manage.py {' '.join(args)}\n{done.stdout}\n--- stderr ---\n{done.stderr}")
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"manage.py {' '.join(args)} failed ({done.returncode}); {log}:\n{tail}")
    return done.stdout


def machine(services: Services) -> dict[str, Any]:
    cpu = "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else "?"
    git = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
        **services.versions(),
        "git_commit": git.stdout.strip() or "?",
        "git_dirty": bool(
            subprocess.run(
                ["git", "status", "--porcelain"],  # noqa: S607
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
        ),
    }


def texts() -> list[str]:
    path = EVAL / "it_requests.jsonl"
    if path.exists():
        return [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]
    return ["I forgot my password", "Please install Zoom", "My laptop screen is flickering"]


# --- the parts -------------------------------------------------------------------------------------


def part_intake(services: Services) -> dict[str, Any]:
    name = services.fresh_database("intake")
    env = services.env(name, CELERY_QUEUE="bench-intake")  # nothing consumes it; flushed afterwards
    result = intake.run(
        env=env,
        dsn=services.dsn(name),
        port=CONFIG.port,
        texts=texts(),
        total=CONFIG.intake_tickets,
        clients=CONFIG.clients,
        log_dir=CONFIG.log_dir,
    )
    services.flush_redis()
    api, raw = result["api"], result["raw_insert"]
    say(f"intake, {result['clients']} clients, {result['tickets']} tickets through the API:")
    say(f"  API        {api['per_second']} tickets/s, {_lat(api)}, {api['failed']} failed")
    say(f"  raw INSERT {raw['per_second']} rows/s, {_lat(raw)}")
    say(f"  API / raw  {result['api_to_raw_ratio']}")
    return result


def _drain(services: Services, part: str, tickets: int, idle: int, **env: str) -> dict[str, Any]:
    name = services.fresh_database(part)
    out = CONFIG.log_dir / f"{part}.json"
    args = ["bench_drain", "--tickets", str(tickets), "--workers", "1,2", "--idle", str(idle)]
    manage([*args, "--json", str(out), "--log-dir", str(CONFIG.log_dir)], services.env(name, **env), part)
    services.flush_redis()
    result: dict[str, Any] = json.loads(out.read_text())
    for run in result["runs"]:
        b, quiet, m = run["backlog"], run["idle"], run["backlog"]["memory_after_drain"]
        say(f"{part}, {run['workers']} worker(s), backlog of {b['tickets']}:")
        rates = f"{b.get('drain_tickets_per_second')} tickets/s ({b.get('decided_per_second')} decided/s)"
        say(f"  drained {rates}")
        say(f"  submit->decided p50 {b['submit_to_decided_s_p50']} s, p95 {b['submit_to_decided_s_p95']} s")
        say(f"  claim->decided p50 {b['claim_to_decided_ms_p50']} ms, p95 {b['claim_to_decided_ms_p95']} ms")
        say(f"  outcomes {b['outcomes']}, LLM calls {b['llm_calls']}")
        say(
            f"  idle, {quiet.get('tickets', 0)} one at a time: submit->decided p50 "
            f"{quiet.get('submit_to_decided_s_p50')} s, p95 {quiet.get('submit_to_decided_s_p95')} s"
        )
        say(f"  worker memory idle: {_mem(run['memory_idle'])}; after the drain: {_mem(m)}")
    return result


def part_drain(services: Services) -> dict[str, Any]:
    return _drain(services, "drain", CONFIG.tickets, CONFIG.idle)


def part_drain_llm(services: Services) -> dict[str, Any]:
    return _drain(services, "drain_llm", CONFIG.llm_tickets, CONFIG.llm_idle, AGENT_LLM_ROLE="confirm")


def _agent_eval(env: dict[str, str], files: list[Path], rows: int, label: str) -> dict[str, Any]:
    out = CONFIG.log_dir / f"agent-{label}.json"
    args = ["agent_eval", *map(str, files), "--limit", str(rows), "--latency-sample", str(rows * len(files))]
    manage([*args, "--json", str(out), "--show", "0"], env, f"agent-{label}")
    overall: dict[str, Any] = json.loads(out.read_text())["overall"]
    keys = [
        "rows", "agent_llm", "llm_role", "single_ticket_sample", "single_ticket_ms_p50",
        "single_ticket_ms_p95", "latency_ms_p50", "latency_ms_p95", "tickets_with_llm",
        "llm_calls_per_ticket", "llm_latency_ms_p50", "llm_latency_ms_p95", "precision", "coverage",
        "false_actions",
    ]  # fmt: skip
    return {k: overall.get(k) for k in keys}


def part_agent(services: Services) -> dict[str, Any]:
    files = [
        EVAL / f for f in ("it_requests.jsonl", "prompt_injections.jsonl", "clinc150_out_of_scope.jsonl")
    ]
    if not all(f.exists() for f in files):
        raise RuntimeError(f"the evaluation rows are missing ({EVAL})")
    name = services.fresh_database("agent")
    router = _agent_eval(services.env(name, AGENT_LLM="none"), files, CONFIG.agent_rows, "router")
    llm_env = services.env(name, AGENT_LLM="local", AGENT_LLM_ROLE="confirm")
    with_llm = _agent_eval(llm_env, files[:1], CONFIG.agent_llm_rows, "llm")
    for label, r in (("router alone", router), ("with the local LLM (confirm)", with_llm)):
        say(
            f"agent decision, {label}: one ticket at a time (n={r['single_ticket_sample']}) p50 "
            f"{_f(r['single_ticket_ms_p50'])} ms, p95 {_f(r['single_ticket_ms_p95'])} ms; tickets that "
            f"consulted the model: {r['tickets_with_llm']} (p50 {_f(r['llm_latency_ms_p50'])} ms, "
            f"p95 {_f(r['llm_latency_ms_p95'])} ms)"
        )
    return {"router": router, "llm_confirm": with_llm}


DASHBOARD_LINE = re.compile(
    r"dashboard (\d+) days: median (\d+) ms, max (\d+) ms, (\d+) queries \((\d+) runs\)"
)


def _dashboards(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for days, median, worst, queries, runs in DASHBOARD_LINE.findall(text):
        out[f"{days}_days"] = {"median_ms": int(median), "max_ms": int(worst), "queries": int(queries)}
        out["runs"] = int(runs)
    rows = re.search(r"rollup rows: (\d+)", text)
    out["rollup_rows"] = int(rows.group(1)) if rows else None
    return out


def part_dashboards(services: Services) -> dict[str, Any]:
    name = services.fresh_database("dashboards")
    env = services.env(name)
    runs = ["--runs", str(CONFIG.dashboard_runs)]
    seeded = manage(
        ["seed_history", "--days", str(CONFIG.seed_days), "--per-day", str(CONFIG.seed_per_day)], env, "seed"
    )
    count = re.search(r"seeded (\d+) tickets", seeded)
    real = _dashboards(text := manage(["bench_dashboards", "--rebuild", *runs], env, "dashboards-real"))
    rebuild = re.search(r"rollup rebuild: (\d+) tickets, (\d+) days, (\d+) rows in ([\d.]+) s", text)
    real["tickets"] = int(count.group(1)) if count else None
    real["rollup_rebuild_seconds"] = float(rebuild.group(4)) if rebuild else None
    synthetic_args = ["bench_dashboards", "--synthetic", str(CONFIG.synthetic), *runs]
    synthetic = _dashboards(text := manage(synthetic_args, env, "dashboards-synthetic"))
    worth = re.search(r"synthetic rollups: (\d+) tickets' worth", text)
    synthetic["tickets"] = int(worth.group(1)) if worth else None
    for label, d in (("real tickets", real), ("synthetic rollups", synthetic)):
        d28, d91 = d.get("28_days", {}), d.get("91_days", {})
        say(
            f"dashboard, {d['tickets']} tickets ({label}, {d['rollup_rows']} rollup rows): 28 days median "
            f"{d28.get('median_ms')} ms, 91 days median {d91.get('median_ms')} ms"
        )
    return {"real": real, "synthetic": synthetic}


def part_audit(services: Services) -> dict[str, Any]:
    name = services.fresh_database("audit")
    out = CONFIG.log_dir / "audit.json"
    args = ["bench_audit", "--events", str(CONFIG.audit_events), "--append", str(CONFIG.audit_append)]
    manage([*args, "--json", str(out)], services.env(name), "audit")
    result: dict[str, Any] = json.loads(out.read_text())
    say(
        f"audit chain verification: {result['events_verified']} events in {result['verify_seconds']} s = "
        f"{result['verify_events_per_second']} events/s; appends (one writer): "
        f"{result['append_events_per_second']} events/s"
    )
    return result


def _lat(figures: dict[str, Any]) -> str:
    return f"p50 {figures['latency_ms_p50']} ms, p95 {figures['latency_ms_p95']} ms"


def _mem(memory: dict[str, Any]) -> str:
    return f"{memory['rss_mb']} MB RSS, {memory['pss_mb']} MB PSS ({memory['processes']} processes)"


def _f(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def say(line: str) -> None:
    print(f"  {line}", flush=True)


CONFIG = Config()


def main() -> int:
    unknown = set(CONFIG.parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"BENCH_ONLY: unknown part(s) {', '.join(sorted(unknown))}; choose from {PARTS}")
    CONFIG.log_dir.mkdir(parents=True, exist_ok=True)
    started, wall = datetime.now(UTC), time.perf_counter()
    services = Services(CONFIG)
    services.flush_redis()
    report: dict[str, Any] = {
        "command": "make bench" + (" (BENCH_QUICK=1)" if CONFIG.quick else ""),
        "started_at": started.isoformat(timespec="seconds"),
        "machine": machine(services),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(CONFIG).items()},
        "load_average_before": os.getloadavg(),
        "results": {},
        "errors": {},
    }
    print(json.dumps(report["machine"]), flush=True)
    manage(["agent_prepare_models"], services.env(f"{CONFIG.db}"), "prepare-models")
    for part in CONFIG.parts:
        load = os.getloadavg()
        print(f"{part} (load average {' '.join(f'{x:.2f}' for x in load)})...", flush=True)
        t0 = time.perf_counter()
        try:
            result = globals()[f"part_{part}"](services)
            report["results"][part] = {**result, "load_average_at_start": load}
        except Exception as error:
            report["errors"][part] = f"{type(error).__name__}: {error}"
            print(f"  FAILED: {error}", flush=True)
        finally:
            print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    report["load_average_after"] = os.getloadavg()
    report["wall_seconds"] = round(time.perf_counter() - wall, 1)
    CONFIG.out.parent.mkdir(parents=True, exist_ok=True)
    CONFIG.out.write_text(json.dumps(report, indent=2, default=str))
    print(f"wall time {report['wall_seconds']} s; results in {CONFIG.out}; logs in {CONFIG.log_dir}")
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
