"""Agent modes (phase 3 of the framework: a controlled pilot before production).

off: every ticket goes to a human. shadow: the agent decides and the decision is recorded, but
nothing is executed and staff work the ticket. pilot: the agent acts only for a cohort (chosen
departments, or a stable share of tickets); the rest is handled as in shadow mode. production: the
agent acts within its policy. Modes apply to the agent's proposals only; staff actions from the
workspace always go through the policy as usual.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.fields.json import KT

from core.models import AuditEvent
from governance.models import AgentControl, AgentMode, Execution
from servicedesk.models import Profile, Ticket


def current_control() -> AgentControl:
    return AgentControl.objects.filter(pk=1).first() or AgentControl(pk=1)


def in_pilot_cohort(control: AgentControl, ticket: Ticket) -> bool:
    department = (
        Profile.objects.filter(user_id=ticket.requester_id).values_list("department", flat=True).first()
    )
    if department and department in control.pilot_departments:
        return True
    bucket = int(hashlib.sha256(f"ticket:{ticket.pk}".encode()).hexdigest(), 16) % 100
    return bucket < control.pilot_percent


def agent_may_act(ticket: Ticket) -> tuple[bool, str]:
    """Whether the agent's decision may take effect for this ticket, and the mode that said so."""
    control = current_control()
    if control.mode == AgentMode.PRODUCTION:
        return True, control.mode
    if control.mode == AgentMode.PILOT and in_pilot_cohort(control, ticket):
        return True, control.mode
    return False, control.mode


@dataclass(frozen=True)
class ShadowAgreement:
    decided: int  # shadow decisions that would have acted, on tickets staff have since resolved
    agreed: int  # ... where staff carried out exactly that action
    rate: float | None


def shadow_agreement(*, since: datetime, until: datetime) -> ShadowAgreement:
    """How often staff ended up doing what the agent would have done, on shadow-mode tickets.

    One query whatever the number of decisions: "exactly that action" is a succeeded execution on the
    ticket with the decision's digest (action, parameters and requester; see ``action_digest``).
    """
    decisions = (
        AuditEvent.objects.filter(
            code="policy.decided",
            created_at__gte=since,
            created_at__lt=until,
            data__shadow=True,
            ticket_id__isnull=False,
        )
        .exclude(data__decision__outcome="escalate")
        .annotate(digest=KT("data__decision__digest"))
        .annotate(
            staff=Exists(Ticket.objects.filter(pk=OuterRef("ticket_id"), resolver_kind="staff")),
            done=Exists(
                Execution.objects.filter(
                    ticket_id=OuterRef("ticket_id"), digest=OuterRef("digest"), status="succeeded"
                )
            ),
        )
        .aggregate(
            decided=Count("id", filter=Q(staff=True)), agreed=Count("id", filter=Q(staff=True, done=True))
        )
    )
    decided, agreed = decisions["decided"] or 0, decisions["agreed"] or 0
    return ShadowAgreement(decided, agreed, agreed / decided if decided else None)
