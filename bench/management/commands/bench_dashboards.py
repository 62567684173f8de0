"""Benchmark the managers' dashboard: server time against the rollups, and the rollup build time.

manage.py bench_dashboards                       # time the dashboard on the current rollups
manage.py bench_dashboards --rebuild             # time a full rollup rebuild from the tickets first
manage.py bench_dashboards --synthetic 1000000   # REPLACE all rollups by a year of rollups for
                                                 # that many tickets (use a private database)
"""

import random
import statistics
import time
from datetime import timedelta

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, reset_queries
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from insights.models import DailyRollup
from insights.rollups import rollups_rebuild_all
from servicedesk.models import Ticket

QUEUES = ["accounts-access", "software", "hardware", "network", "general"]
ACTIONS = ["reset_password", "unlock_account", "reset_mfa", "grant_group_access", "install_software", ""]
RESOLVERS = ["agent", "staff", ""]


def synthetic_rollups(tickets: int, days: int = 365) -> int:
    """A year of rollup rows holding ``tickets`` tickets in all, spread over realistic cells."""
    rng = random.Random(1)  # noqa: S311 - synthetic data
    today = timezone.localdate()
    cells = [(q, a, r) for q in QUEUES for a in ACTIONS for r in RESOLVERS]
    per_cell = max(1, tickets // (days * len(cells)))
    rows = []
    for offset in range(days):
        day = today - timedelta(days=offset)
        for queue, action, resolver in cells:
            resolved = per_cell if resolver else 0
            sample = sorted(int(rng.lognormvariate(8, 1.5)) for _ in range(min(resolved, 500)))
            rows.append(
                DailyRollup(
                    day=day,
                    queue=queue,
                    action=action,
                    resolver=resolver,
                    tickets=per_cell,
                    autonomous=per_cell // 2 if resolver == "agent" else 0,
                    escalated=per_cell // 3,
                    agent_resolved=per_cell if resolver == "agent" else 0,
                    agent_errors=per_cell // 40,
                    resolved=resolved,
                    errors=per_cell // 40,
                    cycle_seconds_sum=sum(sample),
                    cycle_sample=sample,
                    staff_seconds=per_cell * 900 if resolver == "staff" else 0,
                )
            )
    DailyRollup.objects.all().delete()
    DailyRollup.objects.bulk_create(rows, batch_size=2000)
    return per_cell * len(rows)


class Command(BaseCommand):
    help = "Time the managers' dashboard (server side) and, optionally, the rollup build."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--synthetic", type=int, default=0, help="replace rollups by N tickets' worth")
        parser.add_argument("--rebuild", action="store_true", help="time a full rollup rebuild first")
        parser.add_argument("--runs", type=int, default=7)
        parser.add_argument("--user", default="judy")

    def handle(self, *args, synthetic: int, rebuild: bool, runs: int, user: str, **options):  # type: ignore[no-untyped-def]
        if rebuild:
            started = time.perf_counter()
            result = rollups_rebuild_all()
            seconds = time.perf_counter() - started
            self.stdout.write(
                f"rollup rebuild: {Ticket.objects.count()} tickets, {result['days']} days, "
                f"{result['rows']} rows in {seconds:.2f} s"
            )
        if synthetic:
            self.stdout.write(f"synthetic rollups: {synthetic_rollups(synthetic)} tickets' worth")
        manager = User.objects.filter(username=user).first()
        if manager is None:
            raise CommandError(f"no user {user!r}: run load_demo_org first")
        client = Client()
        client.force_login(manager)
        self.stdout.write(f"rollup rows: {DailyRollup.objects.count()}")
        for days in (28, 91):
            timings, queries = [], 0
            for _ in range(runs):
                with override_settings(DEBUG=True, ALLOWED_HOSTS=["*"]):
                    reset_queries()
                    started = time.perf_counter()
                    response = client.get(f"/governance/dashboard/?days={days}")
                    timings.append((time.perf_counter() - started) * 1000)
                    queries = len(connection.queries)
                if response.status_code != 200:
                    raise CommandError(f"dashboard answered {response.status_code}")
            self.stdout.write(
                f"dashboard {days} days: median {statistics.median(timings):.0f} ms, "
                f"max {max(timings):.0f} ms, {queries} queries ({runs} runs)"
            )
