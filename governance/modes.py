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

from governance.models import AgentControl, AgentMode, AuditEvent, Execution
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
    """How often staff ended up doing what the agent would have done, on shadow-mode tickets."""
    events = AuditEvent.objects.filter(
        code="policy.decided", created_at__gte=since, created_at__lt=until, data__shadow=True
    ).values_list("ticket_id", "data")
    decided = agreed = 0
    for ticket_id, data in events:
        if ticket_id is None:
            continue
        decision = data.get("decision", {})
        if (
            decision.get("outcome") == "escalate"
            or not Ticket.objects.filter(pk=ticket_id, resolver_kind="staff").exists()
        ):
            continue
        decided += 1
        if Execution.objects.filter(
            ticket_id=ticket_id, digest=decision.get("digest"), status="succeeded"
        ).exists():
            agreed += 1
    return ShadowAgreement(decided, agreed, agreed / decided if decided else None)
