"""The ticket lifecycle: every allowed status transition, in one place."""

from servicedesk.models import TicketStatus as S

TRANSITIONS: dict[str, frozenset[str]] = {
    S.NEW: frozenset({S.TRIAGING, S.ESCALATED}),
    S.TRIAGING: frozenset({S.RESOLVED, S.AWAITING_APPROVAL, S.AWAITING_REQUESTER, S.ESCALATED}),
    S.AWAITING_APPROVAL: frozenset({S.RESOLVED, S.ESCALATED}),
    # A requester's answer goes back to the agent, or to the staff member who asked (in progress).
    S.AWAITING_REQUESTER: frozenset({S.TRIAGING, S.IN_PROGRESS, S.ESCALATED, S.RESOLVED}),
    # Awaiting approval from a human-held status: staff ran a catalog action that needs an approval.
    S.ESCALATED: frozenset({S.IN_PROGRESS, S.AWAITING_REQUESTER, S.AWAITING_APPROVAL, S.RESOLVED}),
    S.IN_PROGRESS: frozenset({S.ESCALATED, S.AWAITING_REQUESTER, S.AWAITING_APPROVAL, S.RESOLVED}),
    S.RESOLVED: frozenset({S.CLOSED, S.REOPENED}),
    S.REOPENED: frozenset({S.IN_PROGRESS, S.ESCALATED, S.AWAITING_APPROVAL, S.RESOLVED}),
    S.CLOSED: frozenset(),
}

# Statuses in which the ticket is still open for work (used by queues and SLA timers).
OPEN_STATUSES = frozenset(set(TRANSITIONS) - {S.RESOLVED, S.CLOSED})

# Open tickets a team queue shows: with a person, or waiting on the requester or an approval.
QUEUE_STATUSES = frozenset(
    {S.ESCALATED, S.IN_PROGRESS, S.REOPENED, S.AWAITING_REQUESTER, S.AWAITING_APPROVAL}
)
# With a person and being worked on: staff may run a catalog action from the workspace.
WITH_STAFF_STATUSES = frozenset({S.ESCALATED, S.IN_PROGRESS, S.REOPENED})
# What a staff member may set from the workspace's status menu (resolve and reopen have their own forms).
STAFF_SETTABLE = (S.IN_PROGRESS, S.AWAITING_REQUESTER, S.ESCALATED)


def can_transition(current: str, new: str) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


def sources_of(new: str) -> list[str]:
    """The statuses a ticket may move to ``new`` from; used to guard conditional updates."""
    return sorted(status for status, targets in TRANSITIONS.items() if new in targets)
