"""Drift: PSI and chi-square on the request mix and the router's confidence; replays with a mix shift."""

import random
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import AgentRun
from insights import drift
from insights.models import Alert, DriftCheck
from tests.factories import TicketFactory, UserFactory

MIX = {
    "reset_password": 0.3,
    "unlock_account": 0.15,
    "grant_group_access": 0.2,
    "install_software": 0.15,
    "hardware": 0.1,
    "other": 0.1,
}
SHIFTED = {**MIX, "install_software": 0.45, "reset_password": 0.15, "unlock_account": 0.05}


def _week(rng: random.Random, mix: dict[str, float], n: int = 300) -> Counter[str]:
    return Counter(rng.choices(list(mix), weights=list(mix.values()), k=n))


def _replay(weeks: list[Counter[str]]) -> list[int]:
    """Weeks 5 and later, each against the four weeks before it: the ones that drifted."""
    flagged = []
    for w in range(4, len(weeks)):
        reference = sum(weeks[w - 4 : w], Counter())
        if drift.compare(reference, weeks[w]).drifted:
            flagged.append(w)
    return flagged


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_mix_shift_is_detected_within_two_windows(seed):
    rng = random.Random(seed)
    weeks = [_week(rng, MIX) for _ in range(7)] + [_week(rng, SHIFTED) for _ in range(3)]
    flagged = _replay(weeks)
    assert flagged and flagged[0] in (7, 8)
    assert all(w >= 7 for w in flagged)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_unshifted_weeks_raise_nothing(seed):
    rng = random.Random(seed)
    assert _replay([_week(rng, MIX) for _ in range(10)]) == []


def test_psi_and_chi_square_on_known_counts():
    reference = Counter({"a": 50, "b": 50})
    current = Counter({"a": 80, "b": 20})
    assert drift.psi(reference, current) == pytest.approx(0.3 * 0.47000362924573563 + 0.3 * 0.916290731874155)
    stat, dof = drift.chi_square(reference, current)
    assert (round(stat, 4), dof) == (19.7802, 1)
    assert drift.chi2_p_value(stat, dof) == pytest.approx(8.7e-6, rel=0.01)
    assert drift.chi2_p_value(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-6)
    assert drift.chi2_p_value(18.307038053275146, 10) == pytest.approx(0.05, rel=1e-6)


def test_too_little_data_never_drifts():
    assert drift.compare(Counter({"a": 10}), Counter({"b": 10})).drifted is False


def test_router_fields_are_read_defensively():
    assert drift.run_intent({"intent": "reset_password"}, {}) == "reset_password"
    assert (
        drift.run_intent({"candidates": [{"action": "a", "score": 0.2}, {"action": "b", "score": 0.9}]}, {})
        == "b"
    )
    assert drift.run_intent({}, {"action": "unlock_account"}) == "unlock_account"
    assert drift.run_confidence({"candidates": [{"score": 0.4}, {"score": 0.7}]}, {}) == 0.7
    assert drift.run_confidence({}, {"confidence": 0.55}) == 0.55
    assert drift.run_confidence({}, {}) is None
    assert drift.confidence_bin(0.999) == "0.9"


def _runs(rng: random.Random, mix: dict[str, float], confidence: float, start, days: int, n: int) -> None:
    ticket = TicketFactory(requester=UserFactory(username="someone"))
    runs = []
    for i in range(n):
        intent = rng.choices(list(mix), weights=list(mix.values()))[0]
        at = start + timedelta(days=days * i / n)
        runs.append(
            AgentRun(
                ticket=ticket,
                started_at=at,
                router={"intent": intent, "confidence": min(0.99, max(0.0, rng.gauss(confidence, 0.05)))},
            )
        )
    AgentRun.objects.bulk_create(runs)


@pytest.mark.django_db
@pytest.mark.parametrize("shifted", [True, False])
def test_drift_check_alerts_only_when_last_week_moved(shifted):
    rng = random.Random(11)
    now = timezone.now()
    _runs(rng, MIX, 0.85, now - timedelta(days=35), 28, 1200)
    _runs(rng, SHIFTED if shifted else MIX, 0.6 if shifted else 0.85, now - timedelta(days=7), 7, 300)

    checks = {c.dimension: c for c in drift.drift_check(now=now)}

    assert checks["intent"].drifted is shifted
    assert checks["confidence"].drifted is shifted
    assert checks["queue"].drifted is False  # no tickets in either window: too little data
    assert DriftCheck.objects.count() == 3
    expected = ["confidence", "intent"] if shifted else []
    assert sorted(Alert.objects.values_list("subject", flat=True)) == expected
