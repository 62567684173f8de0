"""Server time of the staff queue pages with a large backlog, measured in a transaction that is
rolled back: the tickets exist only while the benchmark runs.

Each request goes through the whole Django stack in-process (middleware, session, view, template)
with the test client, so the figure is the server's time per page, without the network.
"""

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from servicedesk.models import (
    TEAM_QUEUES,
    AuthorKind,
    Comment,
    Priority,
    Queue,
    Role,
    Ticket,
    TicketStatus,
    TicketView,
    Visibility,
)

SUBJECTS = [
    "Laptop will not charge",
    "Printer on the 3rd floor jams",
    "VPN drops every few minutes",
    "Need a second monitor",
    "Outlook keeps asking for my password",
    "Wi-Fi in meeting room is slow",
    "Docking station not detected",
    "Request access to the finance share",
]


@dataclass(frozen=True)
class Timing:
    page: str
    median_ms: float
    p95_ms: float
    queries: int
    rows: int


class _Rollback(Exception):
    pass


def _seed(tickets: int, now: datetime) -> User:
    """``tickets`` open tickets over the five queues, most unassigned, a third with a requester reply."""
    rng = random.Random(42)  # noqa: S311 - test data, not security
    staff = User.objects.create_user(username="bench-staff", first_name="Bench")
    staff.groups.add(Group.objects.get_or_create(name=Role.SERVICE_DESK.value)[0])
    requesters = User.objects.bulk_create([User(username=f"bench-requester-{n}") for n in range(200)])
    queues = [Queue.objects.team(slug) for slug, *_ in TEAM_QUEUES]
    statuses = [TicketStatus.ESCALATED] * 6 + [TicketStatus.IN_PROGRESS, TicketStatus.AWAITING_REQUESTER]
    rows = []
    for n in range(tickets):
        status = rng.choice(statuses)
        rows.append(
            Ticket(
                requester=rng.choice(requesters),
                subject=f"{rng.choice(SUBJECTS)} #{n}",
                description="Details of the problem, what was tried, and when it started. " * 3,
                status=status,
                priority=rng.choice(list(Priority)),
                queue=rng.choice(queues),
                assignee=staff if status != TicketStatus.ESCALATED and rng.random() < 0.5 else None,
                created_at=now - timedelta(minutes=rng.randint(1, 14 * 24 * 60)),
            )
        )
    created = Ticket.objects.bulk_create(rows, batch_size=2000)
    reply = {"author_kind": AuthorKind.REQUESTER, "visibility": Visibility.PUBLIC, "body": "Any news?"}
    Comment.objects.bulk_create([Comment(ticket=t, **reply) for t in created[::3]], batch_size=2000)
    TicketView.objects.bulk_create(
        [TicketView(user=staff, ticket=t, seen_at=now) for t in created[::4]], batch_size=2000
    )
    if connection.vendor == "postgresql":  # fresh rows: give the planner statistics
        with connection.cursor() as cursor:
            for table in ("servicedesk_ticket", "servicedesk_comment", "servicedesk_ticketview"):
                cursor.execute(f"ANALYZE {table}")
    return staff


def _time(client: Client, url: str, repeat: int) -> tuple[list[float], int, int]:
    client.get(url)  # warm caches (templates, the connection)
    times = []
    queries = 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(captured.captured_queries)
    rows = response.content.decode().count('class="t-subject"')
    return times, queries, rows


def run(*, tickets: int = 10_000, repeat: int = 7, report: Callable[[str], None] = print) -> list[Timing]:
    """Seed, time each page ``repeat`` times, roll everything back, return the timings."""
    results: list[Timing] = []
    try:
        with transaction.atomic():
            now = timezone.now()
            started = time.perf_counter()
            staff = _seed(tickets, now)
            seconds = time.perf_counter() - started
            report(f"seeded {tickets} open tickets in {seconds:.1f} s ({connection.vendor})")
            client = Client(HTTP_HOST="localhost")
            client.force_login(staff)
            hardware = reverse("staff:queue", kwargs={"slug": "hardware"})
            pages = {
                "all queues, page 1 (SLA)": reverse("staff:home"),
                "Hardware, page 1 (SLA)": hardware,
                "Hardware, unassigned": f"{hardware}?scope=unassigned",
                "Hardware, mine": f"{hardware}?scope=mine",
                "Hardware, oldest first": f"{hardware}?sort=oldest",
                "Hardware, 100 a page": f"{hardware}?per_page=100",
                "Hardware, page 40": f"{hardware}?page=40",
                "all queues, search 'printer'": f"{reverse('staff:home')}?q=printer",
            }
            for label, url in pages.items():
                times, queries, rows = _time(client, url, repeat)
                ordered = sorted(times)
                timing = Timing(
                    label,
                    statistics.median(times),
                    ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
                    queries,
                    rows,
                )
                results.append(timing)
                report(
                    f"{label:<32} median {timing.median_ms:7.1f} ms   p95 {timing.p95_ms:7.1f} ms   "
                    f"{timing.queries:2d} queries   {timing.rows:3d} rows"
                )
            raise _Rollback
    except _Rollback:
        report("rolled back: nothing was kept")
    return results
