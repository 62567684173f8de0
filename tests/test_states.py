import itertools

from servicedesk.models import TicketStatus as S
from servicedesk.states import TRANSITIONS, can_transition, sources_of


def test_every_status_has_an_entry_in_the_transition_table():
    assert set(TRANSITIONS) == set(S.values)


def test_documented_lifecycle_is_allowed():
    path = [
        S.NEW,
        S.TRIAGING,
        S.ESCALATED,
        S.IN_PROGRESS,
        S.RESOLVED,
        S.REOPENED,
        S.IN_PROGRESS,
        S.RESOLVED,
        S.CLOSED,
    ]
    assert all(can_transition(a, b) for a, b in itertools.pairwise(path))
    for outcome in (S.RESOLVED, S.AWAITING_APPROVAL, S.AWAITING_REQUESTER, S.ESCALATED):
        assert can_transition(S.TRIAGING, outcome)


def test_shortcuts_and_exits_from_closed_are_refused():
    assert not can_transition(S.NEW, S.RESOLVED)
    assert not can_transition(S.ESCALATED, S.CLOSED)
    assert not any(can_transition(S.CLOSED, target) for target in S.values)


def test_sources_of_reopened_is_only_resolved():
    assert sources_of(S.REOPENED) == [S.RESOLVED]
