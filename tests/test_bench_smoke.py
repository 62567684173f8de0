"""The benchmark tooling (``make bench``) runs at tiny sizes and reports what it says it measures.
Nothing here times anything: the assertions are on counts, structure and definitions."""

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection

from bench import intake
from bench.management.commands import bench_audit
from bench.management.commands.bench_drain import figures
from bench.run import Config, _dashboards
from core.audit import audit_verify
from core.models import AuditEvent
from servicedesk.models import Ticket


@pytest.mark.django_db
def test_bench_audit_appends_a_chain_that_verifies_across_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_audit, "BATCH", 50)  # 120 events span three bulk inserts
    before = AuditEvent.objects.count()
    out = tmp_path / "audit.json"
    call_command("bench_audit", events=120, append=3, json_out=str(out), stdout=io.StringIO())
    reported = json.loads(out.read_text())
    assert reported["events_seeded"] == 120
    assert reported["events_verified"] == before + 120
    assert reported["events_appended"] == 3
    assert reported["verify_events_per_second"] > 0
    assert AuditEvent.objects.count() == before + 123
    result = audit_verify()
    assert result.ok
    assert result.checked == before + 123


def _at(seconds: float) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


def test_drain_figures_follow_their_definitions():
    timings = {
        "tickets": {1: _at(0), 2: _at(1)},  # submitted
        "claimed": {1: _at(10), 2: _at(11)},  # moved to triaging by the worker
        "decided": {1: _at(10.5), 2: _at(12)},  # AgentRun.finished_at
        "outcomes": {"execute": 1, "escalate": 1},
        "agent_ms": [400.0, 900.0],
        "llm_calls": 0,
        "tickets_with_llm": 0,
        "executions": {"succeeded": 1},
        "last_execution": _at(14),
        "statuses": {"resolved": 1, "escalated": 1},
    }
    out = figures(timings, _at(9))  # the worker resumed consuming at 9 s
    assert out["tickets"] == 2
    assert out["decided"] == 2
    assert (out["submit_to_decided_s_p50"], out["submit_to_decided_s_p95"]) == (10.5, 11.0)
    assert (out["claim_to_decided_ms_p50"], out["claim_to_decided_ms_p95"]) == (500.0, 1000.0)
    assert out["first_claim_after_s"] == 1.0
    assert out["decide_seconds"] == 3.0  # to the last decision
    assert out["drain_seconds"] == 5.0  # to the last execution
    assert out["decided_per_second"] == pytest.approx(2 / 3, abs=1e-3)
    assert out["drain_tickets_per_second"] == 0.4


@pytest.mark.django_db
def test_dashboard_benchmark_output_is_parsed():
    call_command("load_demo_org", stdout=io.StringIO())
    text = io.StringIO()
    call_command("bench_dashboards", runs=1, stdout=text)
    parsed = _dashboards(text.getvalue())
    assert parsed["runs"] == 1
    assert parsed["rollup_rows"] == 0
    assert set(parsed) == {"28_days", "91_days", "runs", "rollup_rows"}
    assert parsed["28_days"]["queries"] > 0


def test_bench_sizes_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("BENCH_TICKETS", raising=False)
    monkeypatch.setenv("BENCH_QUICK", "1")
    assert Config().tickets == 40
    monkeypatch.setenv("BENCH_QUICK", "0")
    assert Config().tickets == 2000
    monkeypatch.setenv("BENCH_TICKETS", "1_500")
    assert Config().tickets == 1500
    monkeypatch.setenv("BENCH_TICKETS", "many")
    with pytest.raises(SystemExit, match="BENCH_TICKETS"):
        Config()


def test_load_threads_share_the_requests_and_count_failures():
    done: list[int] = []

    def make_worker(client: int):
        def work(n: int) -> None:
            if n % 5 == 0:
                raise ValueError(f"request {n}")
            done.append(n)

        return work

    load = intake.run_threads(20, 3, make_worker)
    assert sorted(done) == [n for n in range(20) if n % 5]
    assert load.figures()["ok"] == 16
    assert load.figures()["failed"] == 4


@pytest.mark.django_db(transaction=True)
def test_intake_clients_create_tickets_through_the_http_api(live_server, monkeypatch):
    enqueued: list[int] = []
    monkeypatch.setattr(
        "core.queue.send_task", lambda name, *, args, queue: enqueued.append(*args)
    )  # no worker: keep the broker clean
    call_command("load_demo_org", stdout=io.StringIO())
    port = int(live_server.url.rsplit(":", 1)[1])
    load = intake.api_load(
        port=port, texts=["Please install Zoom", "My screen flickers"], total=8, clients=2, warm_up=1
    )
    assert load.figures()["ok"] == 8
    assert load.failures == []
    assert Ticket.objects.count() == 10  # and one untimed warm-up request per client
    assert sorted(enqueued) == sorted(Ticket.objects.values_list("pk", flat=True))
    assert set(Ticket.objects.values_list("requester__username", flat=True)) == {"alice", "bob"}


@pytest.mark.django_db(transaction=True)
def test_raw_inserts_land_in_a_scratch_table_that_is_dropped(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the raw insert rate is measured on PostgreSQL only")
    db = connection.settings_dict
    dsn = f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    load = intake.raw_insert_load(dsn=dsn, texts=["a", "b"], total=20, clients=2)
    assert load.figures()["ok"] == 20
    assert load.failures == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [intake.RAW_TABLE])
        assert cursor.fetchone() == (None,)
