"""Markdown tables for docs/performance.md from a ``make bench`` results file.

.venv/bin/python -m bench.report [data/bench/results.json]
"""

import json
import sys
from pathlib import Path
from typing import Any


def _v(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _pair(a: Any, b: Any, digits: int = 1) -> str:
    return f"{_v(a, digits)} / {_v(b, digits)}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _load(values: Any) -> str:
    return " / ".join(f"{x:.2f}" for x in values) if values else "-"


def machine(report: dict[str, Any]) -> str:
    m = report["machine"]
    rows = [
        ["CPU", f"{m['cpu']}, {m['cores']} cores"],
        ["RAM", f"{m['ram_gib']} GiB"],
        ["kernel", m["kernel"]],
        ["Python", m["python"]],
        ["PostgreSQL", f"{m['postgresql']} ({m['postgresql_settings']})"],
        ["Redis", m["redis"]],
        ["commit", m["git_commit"] + (" + uncommitted changes" if m.get("git_dirty") else "")],
        ["command", f"`{report['command']}`, started {report['started_at']}"],
        ["wall time", f"{report['wall_seconds']} s"],
        ["load average (1/5/15 min)", f"before {_load(report['load_average_before'])}, "
         f"after {_load(report['load_average_after'])}"],
    ]  # fmt: skip
    return _table(["", ""], rows)


def intake(r: dict[str, Any]) -> str:
    api, raw = r["api"], r["raw_insert"]
    rows = [
        [f"tickets through the API (gunicorn, {r['clients']} clients)", _v(api["per_second"]),
         _v(api["latency_ms_p50"], 2), _v(api["latency_ms_p95"], 2), _v(api["ok"]), _v(api["failed"])],
        [f"raw single-row INSERT (psycopg, {r['clients']} connections)", _v(raw["per_second"]),
         _v(raw["latency_ms_p50"], 2), _v(raw["latency_ms_p95"], 2), _v(raw["ok"]), _v(raw["failed"])],
    ]  # fmt: skip
    table = _table(["what", "per second", "p50 ms", "p95 ms", "done", "failed"], rows)
    ratio = _v(r["api_to_raw_ratio"], 4)
    return f"{table}\n\nAPI ÷ raw insert: **{ratio}** (load at start {_load(r['load_average_at_start'])})"


def drain(results: dict[str, Any]) -> str:
    rows = []
    for part in ("drain", "drain_llm"):
        if part not in results:
            continue
        mode = "router (grey)" if results[part]["agent_llm_role"] == "grey" else "local LLM (confirm)"
        for run in results[part]["runs"]:
            b, idle = run["backlog"], run["idle"]
            rows.append(
                [mode, str(run["workers"]), _v(b["tickets"]), _v(b.get("drain_tickets_per_second"), 2),
                 _v(b.get("decided_per_second"), 2),
                 _pair(b["submit_to_decided_s_p50"], b["submit_to_decided_s_p95"]),
                 _pair(b["claim_to_decided_ms_p50"], b["claim_to_decided_ms_p95"], 0),
                 _pair(idle.get("submit_to_decided_s_p50"), idle.get("submit_to_decided_s_p95"), 2)
                 + f" (n={idle.get('tickets', 0)})",
                 f"{b['llm_calls']}", ", ".join(f"{k} {v}" for k, v in sorted(b["outcomes"].items())),
                 "yes" if b["finished"] else "**no (timed out)**"]
            )  # fmt: skip
    header = [
        "agent", "workers", "backlog", "drained tickets/s", "decided/s", "submit→decided p50 / p95 s",
        "claim→decided p50 / p95 ms", "idle submit→decided p50 / p95 s", "LLM calls", "outcomes", "finished",
    ]  # fmt: skip
    return _table(header, rows)


def memory(results: dict[str, Any]) -> str:
    rows = []
    for part in ("drain", "drain_llm"):
        if part not in results:
            continue
        mode = "router (grey)" if results[part]["agent_llm_role"] == "grey" else "local LLM loaded (confirm)"
        for run in results[part]["runs"]:
            idle, after = run["memory_idle"], run["backlog"]["memory_after_drain"]
            rows.append(
                [mode, str(run["workers"]), str(idle["processes"]), _v(idle["rss_mb"]), _v(idle["pss_mb"]),
                 _v(after["rss_mb"]), _v(after["pss_mb"]), _v(run["warm_up_seconds"])]
            )  # fmt: skip
    header = [
        "agent", "workers", "processes", "idle RSS MB", "idle PSS MB", "after drain RSS MB",
        "after drain PSS MB", "start + warm-up s",
    ]  # fmt: skip
    return _table(header, rows)


def agent(r: dict[str, Any]) -> str:
    rows = []
    for label, key in (
        ("router alone (`AGENT_LLM=none`)", "router"),
        ("local LLM, confirm role", "llm_confirm"),
    ):
        a = r[key]
        rows.append(
            [label, _v(a["single_ticket_sample"]), _v(a["single_ticket_ms_p50"]),
             _v(a["single_ticket_ms_p95"]), f"{a['tickets_with_llm']} of {a['rows']}",
             _pair(a["llm_latency_ms_p50"], a["llm_latency_ms_p95"])]
        )  # fmt: skip
    header = ["agent", "tickets", "p50 ms", "p95 ms", "consulted the LLM", "those: p50 / p95 ms"]
    return _table(header, rows)


def dashboards(r: dict[str, Any]) -> str:
    rows = []
    for label, key in (("seeded history (real tickets)", "real"), ("synthetic rollups", "synthetic")):
        d = r[key]
        d28, d91 = d.get("28_days", {}), d.get("91_days", {})
        rows.append(
            [label, _v(d["tickets"]), _v(d["rollup_rows"]), f"{d28.get('median_ms')} ({d28.get('max_ms')})",
             f"{d91.get('median_ms')} ({d91.get('max_ms')})", str(d28.get("queries"))]
        )  # fmt: skip
    header = [
        "data",
        "tickets",
        "rollup rows",
        "28 days median (max) ms",
        "91 days median (max) ms",
        "queries",
    ]
    rebuild = r["real"].get("rollup_rebuild_seconds")
    return f"{_table(header, rows)}\n\nRollup rebuild of the seeded history: {_v(rebuild, 2)} s."


def audit(r: dict[str, Any]) -> str:
    rows = [
        ["verify the chain (`audit_verify()`)", _v(r["events_verified"]), _v(r["verify_seconds"], 2),
         _v(r["verify_events_per_second"], 0)],
        ["append, one writer (`audit_record`, one transaction each)", _v(r["events_appended"]),
         _v(r["append_seconds"], 2), _v(r["append_events_per_second"], 0)],
    ]  # fmt: skip
    return _table(["what", "events", "seconds", "events/s"], rows)


def main(path: str = "data/bench/results.json") -> None:
    report = json.loads(Path(path).read_text())
    results = report["results"]
    sections = [("Machine and run", machine(report))]
    if "intake" in results:
        sections.append(("Intake", intake(results["intake"])))
    if "drain" in results or "drain_llm" in results:
        sections += [("End to end", drain(results)), ("Worker memory", memory(results))]
    if "agent" in results:
        sections.append(("Agent decision time", agent(results["agent"])))
    if "dashboards" in results:
        sections.append(("Dashboards", dashboards(results["dashboards"])))
    if "audit" in results:
        sections.append(("Audit chain", audit(results["audit"])))
    for title, body in sections:
        print(f"### {title}\n\n{body}\n")
    for part, error in report.get("errors", {}).items():
        print(f"**{part} failed**: {error}\n")


if __name__ == "__main__":
    main(*sys.argv[1:2])
