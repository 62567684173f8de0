"""Can the configured chat model tell right from wrong where it could be given a say? (dev rows)

    manage.py agent_llm_probe eval/*.jsonl --split dev [--near 40]

It asks the model, through the real planner in the ``confirm`` role, about
 1. every ticket the router would act on (with the router's action and parameters), and
 2. the ``--near`` negatives the router came closest to acting on, offered their best candidate as
    if the router had allowed it (a simulated router mistake the model would have to veto).
A model worth consulting confirms (1) and vetoes (2); one that answers the same way for both does not
discriminate. docs/agent-evaluation.md explains how this chose AGENT_LLM_ROLE.
"""

import json
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from agents import planner
from agents.management.commands.agent_eval import demo_org
from agents.router import ACT, GRANT, INSTALL, RouterResult, get_router
from config.cpu import threads_per_process
from understanding import llm
from understanding.catalog import catalog_load


class Command(BaseCommand):
    help = "Measure whether the configured model confirms the router's actions and vetoes near misses."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("files", nargs="+")
        parser.add_argument("--split", choices=["dev", "test"], default="dev")
        parser.add_argument("--near", type=int, default=40, help="near-miss negatives to offer")

    def handle(self, *args, files: list[str], split: str, near: int, **options):  # type: ignore[no-untyped-def]
        model = llm.chat_model()
        if model is None:
            raise CommandError("AGENT_LLM=none: there is no model to probe")
        rows = []
        for name in files:
            lines = Path(name).read_text().splitlines()
            rows += [
                r for r in (json.loads(line) for line in lines if line.strip()) if r.get("split") == split
            ]
        with demo_org():
            report = self._probe(rows, near, model)
        self.stdout.write(json.dumps(report))

    def _probe(self, rows: list[dict[str, Any]], near: int, model: Any) -> dict[str, Any]:
        catalog = catalog_load()
        router = get_router(catalog)
        routes = router.route_batch([r["text"] for r in rows], [r["requester"] for r in rows])
        acts = [(r, route) for r, route in zip(rows, routes, strict=True) if route.band == ACT]
        misses = self._near_misses(rows, routes, near)
        label = llm.model_label(model)
        report: dict[str, Any] = {"model": label, "split": rows[0]["split"] if rows else ""}
        for group, items in (("router_acts", acts), ("near_misses", misses)):
            kinds: Counter[str] = Counter()
            seconds = []
            for _row, route in items:
                result = planner.plan(route, router.catalog, model=model, model_name=label, role="confirm")
                kinds[result.kind] += 1
                seconds.append(result.seconds)
            seconds.sort()
            report[group] = {
                "offered": len(items),
                "confirmed": kinds[planner.PROPOSAL],
                "asked": kinds[planner.QUESTION],
                "escalated": kinds[planner.ESCALATE],
                "seconds_p50": round(seconds[len(seconds) // 2], 3) if seconds else None,
            }
            self.stderr.write(f"{group}: {report[group]}")
        report["llm_threads"] = threads_per_process(settings.AGENT_LLM_THREADS)
        report["at"] = time.strftime("%Y-%m-%d %H:%M")
        return report

    @staticmethod
    def _near_misses(rows: list[dict[str, Any]], routes: list[RouterResult], n: int) -> list[Any]:
        scored = []
        for row, route in zip(rows, routes, strict=True):
            if row["expected"].get("action") or route.band == ACT or not route.candidates:
                continue
            best = max(route.candidates, key=lambda c: c.score)
            if best.action in (GRANT, INSTALL) and not best.params:
                continue  # nothing the router read could be offered as the parameter
            fake = replace(route, band=ACT, action=best.action, params=dict(best.params))
            scored.append((best.score - route.out_of_scope, row, fake))
        scored.sort(key=lambda item: -item[0])
        return [(row, fake) for _, row, fake in scored[:n]]
