"""Generate months of realistic service-desk history for the managers' pages.

Phase 1 (the first four weeks): no agent, every ticket goes to the service desk. Phase 3 (eight weeks):
the agent's pilot. Phase 4: production, with a software-rollout surge in the last week (a mix shift
the drift monitor notices). Tickets, status changes, agent runs, executions, approvals and reopenings
are bulk-inserted; then the rollups are built, a baseline and the pilot and quarterly reviews recorded,
and the tolerance and drift monitors run once. Seeded rows are marked, so ``--reset`` removes only them.
"""

import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from agents.models import AgentRun
from governance.demo import demo_catalog_load
from governance.models import ApprovalRequest, ApprovalStatus, Execution, ExecutionStatus
from insights import metrics, reports, reviews
from insights.drift import drift_check
from insights.models import Alert, Baseline, DailyRollup, DriftCheck, Review
from insights.monitoring import monitor_tolerance
from insights.rollups import rollups_rebuild_all
from servicedesk.demo_org import demo_org_load
from servicedesk.models import Queue, StatusChange, Ticket, TicketStatus

MARK = "[seeded history]"
SEED_NOTE = "seed_history"
S = TicketStatus

# (intent, queue, action, share of requests, what the agent does: auto | approval | split | human)
KINDS = [
    ("reset_password", "accounts-access", "reset_password", 0.22, "auto"),
    ("unlock_account", "accounts-access", "unlock_account", 0.10, "auto"),
    ("reset_mfa", "accounts-access", "reset_mfa", 0.06, "approval"),
    ("grant_group_access", "accounts-access", "grant_group_access", 0.14, "split"),
    ("install_software", "software", "install_software", 0.14, "split"),
    ("hardware", "hardware", "", 0.12, "human"),
    ("network", "network", "", 0.10, "human"),
    ("other", "general", "", 0.12, "human"),
]
SUBJECTS = {
    "reset_password": "Forgot my password",
    "unlock_account": "Account locked out",
    "reset_mfa": "New phone, need MFA re-enrolled",
    "grant_group_access": "Access to a shared group",
    "install_software": "Software install request",
    "hardware": "Laptop problem",
    "network": "Wi-Fi keeps dropping",
    "other": "Question for IT",
}


@dataclass
class Plan:
    created: datetime
    intent: str
    queue: str
    action: str
    events: list[tuple[datetime, str, str]] = field(default_factory=list)  # (at, to_status, actor_kind)
    run: dict[str, Any] | None = None
    execution: str = ""  # "", succeeded, failed
    approval: str = ""  # "", approved, rejected, expired
    reopened: bool = False


HAS_HANDLING = any(f.name == "handling_seconds" for f in Ticket._meta.get_fields())


def handling(events: list[tuple[datetime, str, str]]) -> dict[str, int]:
    """Staff time, claim to next change, when the service desk records it on the ticket."""
    if not HAS_HANDLING:
        return {}
    total = 0.0
    for (at, status, actor), (after, _, _) in pairwise(events):
        if status == S.IN_PROGRESS and actor == "staff":
            total += min((after - at).total_seconds(), 8 * 3600)
    return {"handling_seconds": int(total)}


class Command(BaseCommand):
    help = "Generate ~4 months of realistic tickets (baseline, pilot, production) for the managers' pages."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--days", type=int, default=120)
        parser.add_argument("--per-day", type=int, default=60, help="tickets on an average weekday")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--reset", action="store_true", help="remove earlier seeded history first")

    def handle(self, *args, days: int, per_day: int, seed: int, reset: bool, **options):  # type: ignore[no-untyped-def]
        if days < 60:
            raise CommandError("--days must be at least 60 (4 weeks of baseline, 8 of pilot).")
        if reset:
            self._reset()
        elif Ticket.objects.filter(description__startswith=MARK).exists():
            self.stdout.write("seeded history exists already; use --reset to regenerate it")
            return
        if not User.objects.filter(username="alice").exists():
            demo_org_load(password="demo")  # noqa: S106 - the demo organisation's documented password
        demo_catalog_load()
        rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
        today = timezone.localdate()
        start = today - timedelta(days=days)
        plans = [
            p for d in range(days + 1) for p in self._day(rng, start + timedelta(days=d), start, per_day)
        ]
        count = self._insert(rng, plans)
        result = rollups_rebuild_all()
        self._reviews(start, today)
        monitor_tolerance()
        drift_check()
        self.stdout.write(
            self.style.SUCCESS(f"seeded {count} tickets over {days} days; {result['rows']} rollup rows")
        )

    # Generating ---------------------------------------------------------------------------------

    def _day(self, rng: random.Random, day: date, start: date, per_day: int) -> list[Plan]:
        weekday = day.weekday() < 5
        n = max(0, int(rng.gauss(per_day if weekday else per_day * 0.15, per_day * 0.12)))
        phase_day = (day - start).days
        agent = phase_day >= 28
        surge = (timezone.localdate() - day).days < 7
        weights = [k[3] * (3.0 if surge and k[0] == "install_software" else 1.0) for k in KINDS]
        plans = []
        for _ in range(n):
            intent, queue, action, _share, mode = rng.choices(KINDS, weights)[0]
            hour = min(max(rng.gauss(12.5, 2.8), 7), 19) if weekday else rng.uniform(8, 20)
            created = timezone.make_aware(datetime.combine(day, time.min)) + timedelta(hours=hour)
            plan = Plan(created, intent, queue, action)
            # Week 7 of the pilot: a bad connector release makes reopenings climb (a tolerance breach).
            error_boost = 3.0 if agent and 70 <= phase_day < 77 else 1.0
            if agent:
                self._agent(rng, plan, mode, error_boost)
            else:
                self._human(rng, plan, plan.created, first=True)
            plans.append(plan)
        return plans

    def _human(self, rng: random.Random, plan: Plan, at: datetime, *, first: bool) -> datetime:
        """Queue wait, a staff member takes it, works it, resolves it; sometimes reopened (phase 1)."""
        wait = timedelta(hours=rng.lognormvariate(1.3, 0.9))
        work = timedelta(minutes=rng.lognormvariate(3.2, 0.6))
        taken = at + wait
        resolved = taken + work
        plan.events.append((taken, S.IN_PROGRESS, "staff"))
        if first and rng.random() < 0.3:  # before the agent: first line hands over to a second-line team
            handed = taken + work / 2
            taken = handed + timedelta(hours=rng.lognormvariate(1.0, 0.8))
            resolved = taken + work
            plan.events += [(handed, S.ESCALATED, "staff"), (taken, S.IN_PROGRESS, "staff")]
        plan.events.append((resolved, S.RESOLVED, "staff"))
        if first and not plan.run and rng.random() < 0.06:
            plan.reopened = True
            back = resolved + timedelta(hours=rng.uniform(2, 96))
            plan.events.append((back, S.REOPENED, "requester"))
            return self._human(rng, plan, back, first=False)
        return resolved

    def _agent(self, rng: random.Random, plan: Plan, mode: str, error_boost: float) -> None:
        confidence = min(0.99, max(0.2, rng.gauss(0.86 if mode != "human" else 0.45, 0.08)))
        plan.run = {
            "intent": plan.intent,
            "confidence": round(confidence, 3),
            "queue": plan.queue,
            "candidates": [{"action": plan.action or "none", "score": round(confidence, 3)}],
        }
        t = plan.created + timedelta(seconds=rng.uniform(5, 40))
        plan.events.append((t, S.TRIAGING, "agent"))
        needs_approval = mode == "approval" or (mode == "split" and rng.random() < 0.35)
        if mode == "human":
            plan.events.append((t + timedelta(seconds=20), S.ESCALATED, "agent"))
            self._human(rng, plan, t + timedelta(seconds=20), first=False)
            plan.run["outcome"] = "escalate"
            return
        if needs_approval:
            plan.run["outcome"] = "needs_approval"
            plan.events.append((t + timedelta(seconds=20), S.AWAITING_APPROVAL, "agent"))
            roll = rng.random()
            plan.approval = "approved" if roll < 0.85 else "rejected" if roll < 0.95 else "expired"
            decided = t + timedelta(hours=rng.lognormvariate(0.8, 0.9) if plan.approval != "expired" else 72)
            if plan.approval != "approved":
                plan.events.append((decided, S.ESCALATED, "system"))
                self._human(rng, plan, decided, first=False)
                return
            t = decided
        else:
            plan.run["outcome"] = "execute"
        failed = rng.random() < 0.03
        plan.execution = "failed" if failed else "succeeded"
        done = t + timedelta(seconds=rng.uniform(20, 180))
        if failed:
            plan.events.append((done, S.ESCALATED, "agent"))
            self._human(rng, plan, done, first=False)
            return
        plan.events.append((done, S.RESOLVED, "agent"))
        if rng.random() < 0.025 * error_boost:
            plan.reopened = True
            back = done + timedelta(hours=rng.uniform(1, 120))
            plan.events.append((back, S.REOPENED, "requester"))
            self._human(rng, plan, back, first=False)

    # Inserting ----------------------------------------------------------------------------------

    def _final(self, plan: Plan, now: datetime) -> list[tuple[datetime, str, str]]:
        """Events up to now, plus the weekly close of resolved tickets."""
        events = [e for e in plan.events if e[0] <= now]
        if events and events[-1][1] == S.RESOLVED and events[-1][0] + timedelta(days=7) <= now:
            events.append((events[-1][0] + timedelta(days=7), S.CLOSED, "system"))
        return events

    @transaction.atomic
    def _insert(self, rng: random.Random, plans: list[Plan]) -> int:
        now = timezone.now()
        queues = {q.slug: q for q in Queue.objects.all()}
        for slug in ("accounts-access", "software", "hardware", "network", "general"):
            queues.setdefault(slug, Queue.objects.team(slug))
        requesters = list(
            User.objects.filter(username__in=["alice", "bob", "carol", "dave", "erin", "frank", "gwen"])
        )
        tickets, finals = [], []
        for plan in plans:
            events = self._final(plan, now)
            finals.append(events)
            status = events[-1][1] if events else S.NEW
            resolved = [e for e in events if e[1] == S.RESOLVED]
            tickets.append(
                Ticket(
                    requester=rng.choice(requesters),
                    subject=SUBJECTS[plan.intent],
                    description=f"{MARK} {SUBJECTS[plan.intent]}.",
                    status=status,
                    queue=queues[plan.queue],
                    resolver_kind=resolved[-1][2] if resolved else "",
                    escalation_reason="",
                    reopened_count=sum(e[1] == S.REOPENED for e in events),
                    created_at=plan.created,
                    status_changed_at=events[-1][0] if events else plan.created,
                    first_response_at=events[0][0] if events else None,
                    resolved_at=resolved[-1][0] if resolved else None,
                    closed_at=events[-1][0] if status == S.CLOSED else None,
                    **handling(events),
                )
            )
        Ticket.objects.bulk_create(tickets, batch_size=1000)
        changes, runs, executions, approvals = [], [], [], []
        for plan, ticket, events in zip(plans, tickets, finals, strict=True):
            previous = ""
            for at, to_status, actor in events:
                changes.append(
                    StatusChange(
                        ticket=ticket,
                        from_status=previous,
                        to_status=to_status,
                        actor_kind=actor,
                        created_at=at,
                    )
                )
                previous = to_status
            if plan.run and events:
                runs.append(
                    AgentRun(
                        ticket=ticket,
                        started_at=events[0][0],
                        finished_at=events[0][0],
                        router=plan.run,
                        outcome=plan.run["outcome"],
                        proposal={"action": plan.action, "confidence": plan.run["confidence"]},
                    )
                )
            digest = hashlib.sha256(f"{plan.action}:{ticket.pk}".encode()).hexdigest()
            if plan.approval:
                decided = next((e[0] for e in events if e[1] in (S.RESOLVED, S.ESCALATED)), None)
                approvals.append(
                    ApprovalRequest(
                        ticket=ticket,
                        requester=ticket.requester,
                        action=plan.action,
                        digest=digest,
                        status=plan.approval if decided else ApprovalStatus.PENDING,
                        created_at=plan.created,
                        expires_at=plan.created + timedelta(hours=72),
                        decided_at=decided,
                    )
                )
            ran = next((e[0] for e in events if e[2] == "agent" and e[1] in (S.RESOLVED, S.ESCALATED)), None)
            if plan.execution and ran and (plan.approval in ("", "approved")):
                executions.append(
                    Execution(
                        idempotency_key=hashlib.sha256(f"seed:{ticket.pk}:{digest}".encode()).hexdigest(),
                        ticket=ticket,
                        action=plan.action,
                        digest=digest,
                        connector="builtin",
                        status=ExecutionStatus.SUCCEEDED
                        if plan.execution == "succeeded"
                        else ExecutionStatus.FAILED,
                        attempts=1,
                        started_at=ran - timedelta(seconds=5),
                        finished_at=ran,
                        error="" if plan.execution == "succeeded" else "TransientDirectoryError: timeout",
                    )
                )
        StatusChange.objects.bulk_create(changes, batch_size=2000)
        AgentRun.objects.bulk_create(runs, batch_size=1000)
        ApprovalRequest.objects.bulk_create(approvals, batch_size=1000)
        Execution.objects.bulk_create(executions, batch_size=1000)
        return len(tickets)

    def _reviews(self, start: date, today: date) -> None:
        baseline_end = start + timedelta(days=27)
        pilot_start, pilot_end = start + timedelta(days=28), start + timedelta(days=83)
        figures = metrics.review_figures(reports.period_totals(start, baseline_end))
        baseline = Baseline.objects.create(
            name="Service desk before the agent",
            source=Baseline.Source.COMPUTED,
            period_start=start,
            period_end=baseline_end,
            notes=SEED_NOTE,
            **{k: v or 0.0 for k, v in figures.items()},
        )
        set_at = reviews.aware(pilot_start) - timedelta(days=2)
        Review.objects.create(
            kind=Review.Kind.PILOT,
            name="Agent pilot (8 weeks)",
            baseline=baseline,
            period_start=pilot_start,
            period_end=pilot_end,
            thresholds_set_at=set_at,
            max_cycle_time_ratio=0.8,
            max_error_rate=0.05,
            max_staff_hours_ratio=0.8,
            max_escalation_rate=0.6,
        )
        Review.objects.create(
            kind=Review.Kind.QUARTERLY,
            name="Production, first quarter",
            baseline=baseline,
            period_start=pilot_end + timedelta(days=1),
            period_end=today - timedelta(days=1),
            thresholds_set_at=reviews.aware(pilot_end) - timedelta(days=1),
            max_cycle_time_ratio=0.7,
            max_error_rate=0.04,
            max_staff_hours_ratio=0.7,
            max_escalation_rate=0.55,
        )

    @transaction.atomic
    def _reset(self) -> None:
        seeded = Ticket.objects.filter(description__startswith=MARK)
        ApprovalRequest.objects.filter(ticket__in=seeded).delete()
        Execution.objects.filter(ticket__in=seeded).delete()
        seeded.delete()
        Review.objects.filter(baseline__notes=SEED_NOTE).delete()
        Baseline.objects.filter(notes=SEED_NOTE).delete()
        DailyRollup.objects.all().delete()
        DriftCheck.objects.all().delete()
        Alert.objects.all().delete()
