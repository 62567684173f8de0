"""Evaluate the agent on labelled tickets (shared/eval/*.jsonl), through the production code path.

    manage.py agent_eval eval/*.jsonl --split dev [--limit N] [--json OUT]

Every row goes through ``agents.replay.replay_batch`` (shared with the managers' backtest):
``agents.pipeline.understand_batch`` (router + planner with the configured ``AGENT_LLM`` and
``AGENT_LLM_ROLE``), then ``governance.policy.decide`` for the row's requester in the demo
organisation. ``decide`` only reads; if the demo organisation has to be created first, that happens
in a transaction that is rolled back. Figures (shared/eval/README.md):
"acts" means decide() says execute or needs_approval.
"""

import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from agents.pipeline import understand
from agents.replay import Replayed, replay_batch
from agents.router import get_router
from governance.demo import demo_catalog_load
from governance.models import CatalogAction
from governance.policy import decide
from governance.types import Outcome
from servicedesk.demo_org import PEOPLE, demo_org_load
from understanding import llm
from understanding.catalog import catalog_load

CHUNK = 512
ACTS = {Outcome.EXECUTE, Outcome.NEEDS_APPROVAL}


class _Rollback(Exception):
    pass


@contextmanager
def demo_org() -> Iterator[None]:
    """The demo organisation for the evaluation; created (and rolled back) only if it is missing."""
    present = CatalogAction.objects.count() >= 5 and User.objects.filter(
        username__in=[p.username for p in PEOPLE]
    ).count() == len(PEOPLE)
    if present:
        yield
        return
    try:
        with transaction.atomic():
            demo_org_load(password="demo")  # noqa: S106 - never committed
            demo_catalog_load()
            yield
            raise _Rollback
    except _Rollback:
        pass


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Command(BaseCommand):
    help = "Action precision, coverage, false-action rate, latency and LLM calls on labelled tickets."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("files", nargs="+", help="JSONL files (shared/eval format)")
        parser.add_argument("--split", choices=["dev", "test"], help="only rows of this split")
        parser.add_argument("--limit", type=int, help="at most N rows per file")
        parser.add_argument("--json", dest="json_out", help="write the full report (and wrong rows) here")
        parser.add_argument("--show", type=int, default=25, help="print this many wrong rows")
        parser.add_argument(
            "--latency-sample", type=int, default=200, help="tickets timed one by one (single-ticket latency)"
        )

    def handle(
        self,
        *args,
        files: list[str],
        split: str | None,
        limit: int | None,
        json_out: str | None,
        show: int,
        latency_sample: int,
        **options,
    ):  # type: ignore[no-untyped-def]
        data = {Path(f).stem: self._load(Path(f), split, limit) for f in files}
        self.stderr.write(f"AGENT_LLM={settings.AGENT_LLM} AGENT_LLM_ROLE={settings.AGENT_LLM_ROLE}")
        with demo_org():
            t0 = time.perf_counter()
            catalog = catalog_load()
            router = get_router(catalog)
            self.stderr.write(f"router ready in {time.perf_counter() - t0:.1f}s")
            users = {u.username: u for u in User.objects.all()}
            results: dict[str, list[dict[str, Any]]] = {}
            t0 = time.perf_counter()
            for name, rows in data.items():
                results[name] = self._evaluate(name, rows, users, catalog, router)
            wall = time.perf_counter() - t0
            single = self._single_latency(data, users, latency_sample)
        report = self._report(results, wall, single)
        self._print(report, results, show)
        if json_out:
            wrong = [r for rs in results.values() for r in rs if r["wrong"]]
            Path(json_out).write_text(json.dumps({**report, "wrong_rows": wrong}, indent=2, default=str))
        self.stdout.write(json.dumps(report["overall"], default=str))

    @staticmethod
    def _load(path: Path, split: str | None, limit: int | None) -> list[dict[str, Any]]:
        if not path.exists():
            raise CommandError(f"{path}: no such file")
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        rows = [r for r in rows if split is None or r.get("split") == split]
        return rows[:limit] if limit else rows

    def _evaluate(self, name, rows, users, catalog, router) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
        out = []
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            requesters = [users.get(r["requester"]) or r["requester"] for r in chunk]
            replayed = replay_batch([r["text"] for r in chunk], requesters, catalog=catalog, router=router)
            out += [self._score(r, x) for r, x in zip(chunk, replayed, strict=True)]
            self.stderr.write(f"  {name}: {min(start + CHUNK, len(rows))}/{len(rows)}", ending="\r")
        self.stderr.write("")
        return out

    @staticmethod
    def _score(row: dict[str, Any], replayed: Replayed) -> dict[str, Any]:
        u, decision = replayed.understanding, replayed.decision
        outcome, action, params, rules = replayed.outcome, None, {}, tuple[str, ...]()
        if decision is not None:
            rules = decision.rule_ids
            if decision.outcome in ACTS:
                action, params = decision.action, dict(decision.params)
        expected = row.get("expected") or {}
        acted = outcome in {str(o) for o in ACTS}
        correct = acted and action == expected.get("action") and params == (expected.get("params") or {})
        return {
            "id": row.get("id"),
            "kind": row.get("kind", ""),
            "expected": expected,
            "outcome": outcome,
            "action": action,
            "params": params,
            "rules": list(rules),
            "acted": acted,
            "correct": correct,
            "wrong": (acted and not correct) or (bool(expected.get("action")) and not correct),
            "band": u.route.band,
            "reasons": list(u.plan.reasons),
            "llm_calls": u.plan.llm_calls,
            "tokens": u.plan.tokens_in + u.plan.tokens_out,
            "model_failed": u.plan.model_failed,
            "seconds": replayed.seconds,
            "text": str(row.get("text", ""))[:200],
        }

    def _single_latency(self, data, users, n: int) -> list[float]:  # type: ignore[no-untyped-def]
        """understand() + decide() one ticket at a time, as the worker does."""
        rows = [r for rs in data.values() for r in rs]
        sample = random.Random(0).sample(rows, min(n, len(rows)))  # noqa: S311 - a reproducible sample
        seconds = []
        for row in sample:
            t0 = time.perf_counter()
            try:
                u = understand(row["text"], users.get(row["requester"]) or row["requester"])
            except llm.ModelUnavailable:
                continue
            if u.proposal is not None and row["requester"] in users:
                decide(u.proposal, users[row["requester"]])
            seconds.append(time.perf_counter() - t0)
        return seconds

    @staticmethod
    def _figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
        acted = [r for r in rows if r["acted"]]
        positives = [r for r in rows if r["expected"].get("action")]
        negatives = [r for r in rows if not r["expected"].get("action")]
        ms = [1000 * r["seconds"] for r in rows]
        llm_ms = [1000 * r["seconds"] for r in rows if r["llm_calls"]]
        false_actions = sum(r["acted"] for r in negatives)
        outcomes = Counter(r["outcome"] for r in rows)

        def share(part: int, whole: int) -> float | None:
            return round(part / whole, 6) if whole else None

        return {
            "rows": len(rows),
            "acted": len(acted),
            "precision": share(sum(r["correct"] for r in acted), len(acted)),
            "in_scope": len(positives),
            "coverage": share(sum(r["correct"] for r in positives), len(positives)),
            "negatives": len(negatives),
            "false_actions": false_actions,
            "false_action_rate": share(false_actions, len(negatives)),
            "asked": outcomes.get("question", 0),
            "escalated": outcomes.get(str(Outcome.ESCALATE), 0),
            "model_failures": sum(r["model_failed"] for r in rows),
            "latency_ms_p50": percentile(ms, 0.5),
            "latency_ms_p95": percentile(ms, 0.95),
            "llm_calls_per_ticket": round(sum(r["llm_calls"] for r in rows) / len(rows), 5) if rows else None,
            "tickets_with_llm": sum(1 for r in rows if r["llm_calls"]),
            "llm_latency_ms_p50": percentile(llm_ms, 0.5),
            "llm_latency_ms_p95": percentile(llm_ms, 0.95),
            "tokens_per_ticket": round(sum(r["tokens"] for r in rows) / len(rows), 2) if rows else None,
        }

    def _report(self, results, wall: float, single: list[float]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        files = {name: self._figures(rows) for name, rows in results.items()}
        kinds = {
            f"{name}/{kind}": self._figures([r for r in rows if r["kind"] == kind])
            for name, rows in results.items()
            for kind in sorted({r["kind"] for r in rows if r["kind"]})
        }
        overall = self._figures([r for rows in results.values() for r in rows])
        overall.update(
            {
                "agent_llm": settings.AGENT_LLM,
                "llm_role": settings.AGENT_LLM_ROLE,
                "wall_seconds": round(wall, 1),
                "single_ticket_ms_p50": percentile([1000 * s for s in single], 0.5),
                "single_ticket_ms_p95": percentile([1000 * s for s in single], 0.95),
                "single_ticket_sample": len(single),
            }
        )
        return {"files": files, "kinds": kinds, "overall": overall}

    def _print(self, report: dict[str, Any], results, show: int) -> None:  # type: ignore[no-untyped-def]
        cols = [
            "rows", "acted", "precision", "in_scope", "coverage", "negatives", "false_actions",
            "false_action_rate", "asked", "escalated", "latency_ms_p50", "latency_ms_p95",
            "llm_calls_per_ticket",
        ]  # fmt: skip

        def fmt(value: Any, col: str) -> str:
            if value is None:
                return "-"
            if col in {"precision", "coverage", "false_action_rate"}:
                return f"{100 * value:.2f}%"
            if isinstance(value, float):
                return f"{value:.1f}" if col.startswith("latency") else f"{value:.4f}"
            return str(value)

        self.stdout.write("| file | " + " | ".join(cols) + " |")
        self.stdout.write("|" + " --- |" * (len(cols) + 1))
        for name, figures in [*report["files"].items(), ("OVERALL", report["overall"])]:
            self.stdout.write(f"| {name} | " + " | ".join(fmt(figures[c], c) for c in cols) + " |")
        if report["kinds"]:
            self.stdout.write(
                "\nper kind (asked = a question to the requester; escalated = handed to a person):"
            )
            kind_cols = ["rows", "acted", "precision", "in_scope", "coverage", "negatives", "false_actions"]
            kind_cols += ["asked", "escalated"]
            self.stdout.write("| file/kind | " + " | ".join(kind_cols) + " |")
            self.stdout.write("|" + " --- |" * (len(kind_cols) + 1))
            for name, figures in report["kinds"].items():
                self.stdout.write(f"| {name} | " + " | ".join(fmt(figures[c], c) for c in kind_cols) + " |")
        o = report["overall"]

        def ms(key: str) -> str:
            return fmt(o[key], "latency")

        self.stdout.write(
            f"single-ticket latency (n={o['single_ticket_sample']}): p50 {ms('single_ticket_ms_p50')} ms, "
            f"p95 {ms('single_ticket_ms_p95')} ms; tickets that consulted the LLM: {o['tickets_with_llm']} "
            f"(p50 {ms('llm_latency_ms_p50')} ms, p95 {ms('llm_latency_ms_p95')} ms); "
            f"wall {o['wall_seconds']} s"
        )
        wrong = [r for rows in results.values() for r in rows if r["wrong"]]
        self.stdout.write(f"wrong rows: {len(wrong)}")
        for r in wrong[:show]:
            exp = r["expected"]
            self.stdout.write(
                f"  {r['id']}: expected {exp.get('action')}{exp.get('params') or ''} got {r['outcome']} "
                f"{r['action'] or ''}{r['params'] or ''} [{r['band']}; {'; '.join(r['reasons'])}] "
                f"{r['text']!r}"
            )
        sys.stdout.flush()
