"""Backtest: replay past tickets through the current agent and policy, with what-if catalog changes,
and show what would change, before the change goes live.

Each ticket's text as the agent saw it (``agents.services.ticket_text``) goes through the agent's
production path (``agents.pipeline.understand_batch``: router + planner as configured) and then
``governance.policy.decide``: no execution, approval, notification, comment, status change or
directory change; the only writes are the run's own rows and its one audit event.

What-if changes are applied to in-memory copies of the catalog rows (the policy's ``PolicySource``
and the router's ``Catalog`` snapshot); they are never saved. Live operating state is not replayed:
the kill switch, per-action pauses and hourly budgets describe a moment, not the policy under test.
"""

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from agents.models import DECIDED_OUTCOMES, AgentRun
from agents.planner import QUESTION
from agents.replay import Replayed, replay_batch
from agents.router import Router
from agents.services import ticket_text
from core.audit import audit_record
from core.queue import enqueue_on_commit
from governance import controls
from governance.policy import PolicySource
from governance.types import Outcome
from insights.models import BacktestChange, BacktestRun, BacktestStatus, BacktestTicket
from insights.rollups import day_bounds
from insights.whatif import WhatIf, WhatIfSource, whatif_catalog, whatif_router, whatifs_of
from servicedesk.models import Ticket
from understanding.catalog import Catalog, catalog_load
from understanding.llm import ModelUnavailable

logger = logging.getLogger(__name__)

MAX_DAYS = 366  # the longest period one run may cover
MAX_TICKETS = 20_000  # the most tickets one run replays (and stores a row for)
CHUNK = 256  # tickets per batched router call and per progress update
ACTS = {str(Outcome.EXECUTE), str(Outcome.NEEDS_APPROVAL)}

# What each class means, shown next to the counts.
CHANGES: dict[str, str] = {
    BacktestChange.UNCHANGED: "Acted with the same action and parameters and the same need for approval as "
    "before, or did not act before and would not act now.",
    BacktestChange.NEWLY_ACTED: "Escalated, asked or handled by staff before; the agent would now act "
    "(execute, or ask for approval).",
    BacktestChange.NO_LONGER_ACTED: "The agent acted before; it would now escalate or ask the requester.",
    BacktestChange.DIFFERENT_ACTION: "The agent acted before and would act now, with another action or "
    "other parameters.",
    BacktestChange.APPROVAL_NOW_REQUIRED: "Same action; executed before, it would now wait for an approval.",
    BacktestChange.APPROVAL_NO_LONGER_REQUIRED: "Same action; it waited for an approval before and would "
    "now be executed directly.",
}
OUTCOMES: dict[str, str] = {
    "execute": "executed",
    "needs_approval": "sent for approval",
    "escalate": "escalated",
    "ask": "asked the requester",
    "none": "no agent decision",
    "error": "model unavailable",
}


# What happened, what would happen, and the class of the change ----------------------------------


@dataclass(frozen=True)
class Verdict:
    outcome: str  # execute | needs_approval | escalate | ask | none | error
    action: str = ""
    params: dict[str, str] | None = None
    rules: tuple[str, ...] = ()
    reason: str = ""
    queue: str = ""  # the router's queue (history only)

    @property
    def acted(self) -> bool:
        return self.outcome in ACTS


def history(ticket_ids: Sequence[int]) -> dict[int, Verdict]:
    """The agent's last decision on each ticket (one query). No decided run: "none" (the agent was
    off, failed, or the ticket predates it). In shadow mode or outside a pilot cohort this is what the
    agent decided, though nothing was executed."""
    runs = (
        AgentRun.objects.filter(ticket_id__in=ticket_ids, outcome__in=DECIDED_OUTCOMES)
        .order_by("ticket_id", "round", "started_at", "id")
        .values_list("ticket_id", "outcome", "proposal", "rule_ids", "router")
    )
    last: dict[int, Verdict] = {}
    for ticket_id, outcome, proposal, rule_ids, router in runs:
        proposal = proposal or {}
        last[ticket_id] = Verdict(
            outcome=outcome,
            action=str(proposal.get("action") or ""),
            params={str(k): str(v) for k, v in (proposal.get("params") or {}).items()},
            rules=tuple(rule_ids or ()),
            queue=str((router or {}).get("queue") or ""),
        )
    return {tid: last.get(tid, Verdict("none")) for tid in ticket_ids}


def verdict_now(replayed: Replayed, questions_asked: int) -> Verdict:
    """The replay's outcome as the triage task would carry it out (agents.services)."""
    u, decision = replayed.understanding, replayed.decision
    proposal = u.proposal
    if decision is not None:
        acted = decision.outcome in (Outcome.EXECUTE, Outcome.NEEDS_APPROVAL)
        params = decision.params if acted else (proposal.params if proposal else {})
        return Verdict(
            outcome=str(decision.outcome),
            action=str(decision.action or (proposal.action if proposal else "") or ""),
            params=dict(params),
            rules=decision.rule_ids,
            reason=decision.reason,
        )
    if u.kind == QUESTION and questions_asked < settings.AGENT_MAX_QUESTIONS:
        return Verdict("ask", reason="; ".join(u.plan.reasons))
    reason = "; ".join(u.plan.reasons) or "out of scope"
    return Verdict("escalate", action=u.route.action or "", reason=reason)


def _same(a: dict[str, str] | None, b: dict[str, str] | None) -> bool:
    def norm(p: dict[str, str] | None) -> dict[str, str]:
        return {k: str(v).strip().lower() for k, v in (p or {}).items()}

    return norm(a) == norm(b)


def classify(before: Verdict, after: Verdict) -> str:
    if not before.acted and not after.acted:
        return BacktestChange.UNCHANGED
    if after.acted and not before.acted:
        return BacktestChange.NEWLY_ACTED
    if before.acted and not after.acted:
        return BacktestChange.NO_LONGER_ACTED
    if before.action != after.action or not _same(before.params, after.params):
        return BacktestChange.DIFFERENT_ACTION
    if before.outcome == Outcome.EXECUTE and after.outcome == Outcome.NEEDS_APPROVAL:
        return BacktestChange.APPROVAL_NOW_REQUIRED
    if before.outcome == Outcome.NEEDS_APPROVAL and after.outcome == Outcome.EXECUTE:
        return BacktestChange.APPROVAL_NO_LONGER_REQUIRED
    return BacktestChange.UNCHANGED


# Starting and running a backtest ------------------------------------------------------------------


def selection(*, start: date, end: date, queue: str = "", limit: int | None = None) -> QuerySet[Ticket]:
    """Tickets created from ``start`` to ``end`` (inclusive, local days); with a limit, the most recent
    ones. A ticket's queue is the team queue it is in or, when the agent handled it without a person
    (no queue), the queue the agent's router chose."""
    tickets = Ticket.objects.filter(created_at__gte=day_bounds(start)[0], created_at__lt=day_bounds(end)[1])
    if queue:
        routed = AgentRun.objects.filter(ticket=OuterRef("pk"), router__queue=queue)
        tickets = tickets.filter(Q(queue__slug=queue) | Q(queue__isnull=True) & Exists(routed))
    tickets = tickets.order_by("-created_at", "-id")
    return tickets[:limit] if limit else tickets


@transaction.atomic
def backtest_start(
    *,
    by: User,
    start: date,
    end: date,
    queue: str = "",
    limit: int | None = None,
    changes: Sequence[WhatIf] = (),
) -> BacktestRun:
    """Record the run and its audit event, and queue the replay once this transaction commits."""
    if not controls.can_control_agent(by):
        raise PermissionDenied("Only managers run backtests.")
    if end < start:
        raise ValueError("The period ends before it starts.")
    total = selection(start=start, end=end, queue=queue, limit=limit).count()
    if total > MAX_TICKETS:
        raise ValueError(
            f"{total:,} tickets match; at most {MAX_TICKETS:,} in one run: narrow the period or set a limit."
        )
    run = BacktestRun.objects.create(
        created_by=by,
        period_start=start,
        period_end=end,
        queue=queue,
        limit=limit,
        overrides={"changes": [c.to_dict() for c in changes]},
        total=total,
    )
    audit_record(
        code="backtest.run",
        actor_kind="user",
        actor=by,
        data={
            "backtest": run.pk,
            "period": [start.isoformat(), end.isoformat()],
            "queue": queue,
            "limit": limit,
            "tickets": total,
            "changes": [c.to_dict() for c in changes],
        },
    )
    enqueue_on_commit("insights.tasks.run_backtest", run.pk)
    return run


def backtest_execute(*, run_id: int) -> BacktestRun | None:
    """The Celery task's body. Claims a queued run; a run found running again was interrupted (its
    worker stopped) and is marked failed rather than replayed twice. A failure is recorded on the run."""
    now = timezone.now()
    if not BacktestRun.objects.filter(pk=run_id, status=BacktestStatus.QUEUED).update(
        status=BacktestStatus.RUNNING, started_at=now
    ):
        BacktestRun.objects.filter(pk=run_id, status=BacktestStatus.RUNNING).update(
            status=BacktestStatus.FAILED,
            error="interrupted: the worker stopped during the run; start it again",
            finished_at=now,
        )
        return None
    run = BacktestRun.objects.get(pk=run_id)
    try:
        _replay(run)
    except Exception as error:
        logger.exception("backtest %s failed", run_id)
        BacktestRun.objects.filter(pk=run_id).update(
            status=BacktestStatus.FAILED,
            error=f"{type(error).__name__}: {error}"[:500],
            finished_at=timezone.now(),
        )
    run.refresh_from_db()
    return run


def _replay(run: BacktestRun) -> None:
    changes = whatifs_of(run)
    ids = list(
        selection(start=run.period_start, end=run.period_end, queue=run.queue, limit=run.limit).values_list(
            "id", flat=True
        )
    )[:MAX_TICKETS]
    ids.sort()
    catalog = whatif_catalog(catalog_load(), changes)
    router = whatif_router(catalog)
    source = WhatIfSource(changes)
    BacktestRun.objects.filter(pk=run.pk).update(
        total=len(ids),
        agent={
            "llm": settings.AGENT_LLM,
            "llm_role": settings.AGENT_LLM_ROLE,
            "embedding_model": str(settings.EMBEDDING_MODEL),
        },
    )
    done = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = _replay_chunk(run, chunk, catalog, router, source)
        done += len(chunk)
        with transaction.atomic():
            BacktestTicket.objects.bulk_create(rows)
            BacktestRun.objects.filter(pk=run.pk).update(processed=done)
    BacktestRun.objects.filter(pk=run.pk).update(
        status=BacktestStatus.DONE, summary=summarise(run), finished_at=timezone.now()
    )


def _replay_chunk(
    run: BacktestRun, ids: list[int], catalog: Catalog, router: Router, source: PolicySource
) -> list[BacktestTicket]:
    tickets = list(Ticket.objects.filter(pk__in=ids).select_related("requester", "queue").order_by("id"))
    before = history(ids)
    texts = [ticket_text(t) for t in tickets]
    requesters: list[User | str] = [t.requester for t in tickets]
    replayed: list[Replayed | None]
    try:
        replayed = list(replay_batch(texts, requesters, catalog=catalog, router=router, source=source))
    except ModelUnavailable:
        # The model provider is down: one ticket at a time, so one failure costs one ticket.
        replayed = []
        for text, requester in zip(texts, requesters, strict=True):
            try:
                replayed += replay_batch([text], [requester], catalog=catalog, router=router, source=source)
            except ModelUnavailable:
                replayed.append(None)
    rows = []
    for ticket, again in zip(tickets, replayed, strict=True):
        was = before[ticket.pk]
        if again is None:
            now = Verdict("error", reason="the language model did not answer")
        else:
            now = verdict_now(again, ticket.questions_asked)
        rows.append(
            BacktestTicket(
                run=run,
                ticket=ticket,
                queue=ticket.queue.slug if ticket.queue else was.queue,
                before_outcome=was.outcome,
                before_action=was.action,
                before_params=was.params or {},
                after_outcome=now.outcome,
                after_action=now.action,
                after_params=now.params or {},
                after_rules=list(now.rules),
                after_reason=now.reason[:500],
                change=classify(was, now),
            )
        )
    return rows


def summarise(run: BacktestRun) -> dict[str, Any]:
    """Counts by change class, by action and by queue, and the outcomes before and after (one query)."""
    by_change: Counter[str] = Counter()
    outcomes: dict[str, Counter[str]] = {"before": Counter(), "after": Counter()}
    actions: dict[str, Counter[str]] = defaultdict(Counter)
    queues: dict[str, Counter[str]] = defaultdict(Counter)
    rows = BacktestTicket.objects.filter(run=run).values_list(
        "queue", "before_outcome", "before_action", "after_outcome", "after_action", "change"
    )
    for queue, b_out, b_action, a_out, a_action, change in rows.iterator(chunk_size=2000):
        changed = change != BacktestChange.UNCHANGED
        by_change[change] += 1
        outcomes["before"][b_out] += 1
        outcomes["after"][a_out] += 1
        q = queues[queue or "(none)"]
        q["tickets"] += 1
        q["acted_before"] += b_out in ACTS
        q["acted_after"] += a_out in ACTS
        q["changed"] += changed
        if b_out in ACTS:
            actions[b_action]["acted_before"] += 1
        if a_out in ACTS:
            actions[a_action]["acted_after"] += 1
        for name in {b_action, a_action} - {""}:
            actions[name]["changed"] += changed
    return {
        "changes": {code: by_change.get(code, 0) for code in BacktestChange.values},
        "outcomes": {when: dict(counts) for when, counts in outcomes.items()},
        "actions": {name: dict(c) for name, c in sorted(actions.items())},
        "queues": {name: dict(c) for name, c in sorted(queues.items())},
    }
