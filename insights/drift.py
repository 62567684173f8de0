"""Drift: has the request mix (router intents, queues) or the router's confidence moved?

Last week is compared with a reference window (the ``DRIFT_REFERENCE_WEEKS`` weeks before it) with the
population stability index and a chi-square test of homogeneity. Chi-square alone flags tiny moves
once samples are large, so an alert needs PSI >= the threshold, or a significant chi-square together
with at least half that PSI.
"""

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from agents.models import AgentRun
from insights.models import AlertKind, DriftCheck
from servicedesk.models import Ticket

EPSILON = 1e-4  # stands in for an empty bin's share in PSI
MIN_SAMPLE = 30
CONFIDENCE_BINS = 10
DIMENSIONS = ("intent", "queue", "confidence")


@dataclass(frozen=True)
class Comparison:
    psi: float
    chi2: float
    dof: int
    p_value: float
    drifted: bool
    enough_data: bool


def psi(reference: Counter[str], current: Counter[str]) -> float:
    bins = set(reference) | set(current)
    ref_total, cur_total = sum(reference.values()), sum(current.values())
    if not ref_total or not cur_total:
        return 0.0
    total = 0.0
    for key in bins:
        r = max(reference.get(key, 0) / ref_total, EPSILON)
        c = max(current.get(key, 0) / cur_total, EPSILON)
        total += (c - r) * math.log(c / r)
    return total


def chi_square(reference: Counter[str], current: Counter[str]) -> tuple[float, int]:
    """Chi-square of homogeneity on the 2 x k table (bins empty in both are dropped)."""
    bins = [key for key in set(reference) | set(current) if reference.get(key, 0) + current.get(key, 0) > 0]
    ref_total, cur_total = sum(reference.values()), sum(current.values())
    grand = ref_total + cur_total
    if len(bins) < 2 or not ref_total or not cur_total:
        return 0.0, 0
    stat = 0.0
    for key in bins:
        column = reference.get(key, 0) + current.get(key, 0)
        for observed, row_total in ((reference.get(key, 0), ref_total), (current.get(key, 0), cur_total)):
            expected = row_total * column / grand
            stat += (observed - expected) ** 2 / expected
    return stat, len(bins) - 1


def _upper_gamma_regularized(a: float, x: float) -> float:
    """Q(a, x) (Numerical Recipes: series below a + 1, continued fraction above)."""
    if x <= 0:
        return 1.0
    log_prefix = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        n = a
        for _ in range(500):
            n += 1
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-14:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    b, c, d = x + 1 - a, 1e300, 1.0 / (x + 1 - a)
    h = d
    for i in range(1, 500):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1.0 / d
        h *= d * c
        if abs(d * c - 1) < 1e-14:
            break
    return min(1.0, math.exp(log_prefix) * h)


def chi2_p_value(stat: float, dof: int) -> float:
    return 1.0 if dof <= 0 else _upper_gamma_regularized(dof / 2, stat / 2)


def compare(reference: Counter[str], current: Counter[str]) -> Comparison:
    enough = sum(reference.values()) >= MIN_SAMPLE and sum(current.values()) >= MIN_SAMPLE
    index = psi(reference, current)
    stat, dof = chi_square(reference, current)
    p_value = chi2_p_value(stat, dof)
    threshold = float(settings.DRIFT_PSI_THRESHOLD)
    moved = index >= threshold or (p_value < float(settings.DRIFT_P_VALUE) and index >= threshold / 2)
    return Comparison(round(index, 4), round(stat, 2), dof, p_value, enough and moved, enough)


# Reading the distributions ------------------------------------------------------------------------


def run_intent(router: dict[str, Any], proposal: dict[str, Any]) -> str:
    """The router's intent, read defensively: an explicit intent, else the best-scored candidate."""
    if isinstance(router.get("intent"), str) and router["intent"]:
        return router["intent"]
    candidates = router.get("candidates") or []
    scored = [c for c in candidates if isinstance(c, dict) and "score" in c]
    if scored:
        best = max(scored, key=lambda c: float(c.get("score") or 0))
        return str(best.get("action") or best.get("intent") or "unknown")
    return str(proposal.get("action") or "none")


def run_confidence(router: dict[str, Any], proposal: dict[str, Any]) -> float | None:
    for value in (router.get("confidence"), proposal.get("confidence")):
        if isinstance(value, int | float):
            return float(value)
    scores = [c.get("score") for c in router.get("candidates") or [] if isinstance(c, dict)]
    numeric = [float(s) for s in scores if isinstance(s, int | float)]
    return max(numeric) if numeric else None


def confidence_bin(value: float) -> str:
    index = min(max(int(value * CONFIDENCE_BINS), 0), CONFIDENCE_BINS - 1)
    return f"{index / CONFIDENCE_BINS:.1f}"


def distributions(start: datetime, end: datetime) -> dict[str, Counter[str]]:
    result: dict[str, Counter[str]] = {name: Counter() for name in DIMENSIONS}
    runs = AgentRun.objects.filter(started_at__gte=start, started_at__lt=end).values_list(
        "router", "proposal"
    )
    for router, proposal in runs.iterator(chunk_size=2000):
        router = router if isinstance(router, dict) else {}
        proposal = proposal if isinstance(proposal, dict) else {}
        result["intent"][run_intent(router, proposal)] += 1
        confidence = run_confidence(router, proposal)
        if confidence is not None:
            result["confidence"][confidence_bin(confidence)] += 1
    queues = Ticket.objects.filter(created_at__gte=start, created_at__lt=end).values_list(
        "queue__slug", flat=True
    )
    for slug in queues.iterator(chunk_size=2000):
        result["queue"][slug or "none"] += 1
    return result


def drift_check(*, now: datetime | None = None) -> list[DriftCheck]:
    """Compare last week with the reference weeks on every dimension; alert on the ones that moved."""
    from insights.monitoring import alert_raise

    now = now or timezone.now()
    window_start = now - timedelta(days=7)
    reference_start = window_start - timedelta(weeks=settings.DRIFT_REFERENCE_WEEKS)
    current = distributions(window_start, now)
    reference = distributions(reference_start, window_start)
    checks = []
    for dimension in DIMENSIONS:
        result = compare(reference[dimension], current[dimension])
        check = DriftCheck.objects.create(
            dimension=dimension,
            window_start=window_start,
            window_end=now,
            reference_start=reference_start,
            reference_end=window_start,
            psi=result.psi,
            chi2=result.chi2,
            p_value=result.p_value,
            drifted=result.drifted,
            data={
                "reference": dict(reference[dimension]),
                "current": dict(current[dimension]),
                "dof": result.dof,
                "enough_data": result.enough_data,
            },
        )
        checks.append(check)
        if result.drifted:
            alert_raise(
                key=f"drift:{dimension}:{timezone.localtime(now).date().isoformat()}",
                kind=AlertKind.DRIFT,
                rule="drift",
                subject=dimension,
                message=f"The {dimension} mix of the last 7 days moved from the reference weeks "
                f"(PSI {result.psi:.3f}, chi-square p {result.p_value:.2g})",
                data={"check": check.pk, "psi": result.psi, "p_value": result.p_value},
            )
    return checks
