"""The managers' records: daily rollups, baselines, reviews, monitoring alerts, drift checks, backtests.

Moved from governance with state-only migrations (insights/0001, governance/0009): each keeps the
table governance created (``db_table``), so an existing database keeps its rows unchanged.
"""

from django.conf import settings
from django.db import models
from django.db.models.functions import Now


class DailyRollup(models.Model):
    """Pre-aggregated figures for the tickets created on ``day`` in one (queue, action, resolver) cell.

    Tickets are counted by the day they were created (a cohort), so every rate on the dashboards has
    the same denominator. Rebuilt for recent days by ``insights.rollups.rollups_rebuild``; the
    dashboards read only these rows, so their cost grows with days x cells, not with tickets.
    """

    day = models.DateField()
    queue = models.CharField(max_length=50, blank=True, help_text="Queue slug; empty when none.")
    action = models.CharField(max_length=64, blank=True, help_text="Catalog action; empty when none.")
    resolver = models.CharField(max_length=16, blank=True, help_text="agent, staff, or empty (unresolved).")
    tickets = models.PositiveIntegerField(default=0)
    autonomous = models.PositiveIntegerField(default=0)
    escalated = models.PositiveIntegerField(default=0)
    agent_resolved = models.PositiveIntegerField(default=0)
    agent_errors = models.PositiveIntegerField(default=0)
    approvals_requested = models.PositiveIntegerField(default=0)
    approvals_decided = models.PositiveIntegerField(default=0)
    approvals_granted = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0, help_text="Resolved tickets (any resolver) in error.")
    cycle_seconds_sum = models.BigIntegerField(default=0)
    cycle_sample = models.JSONField(default=list, blank=True, help_text="Sorted cycle times (s), capped.")
    staff_seconds = models.BigIntegerField(default=0)
    built_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "governance_dailyrollup"
        ordering = ["day", "queue", "action", "resolver"]
        constraints = [
            models.UniqueConstraint(fields=["day", "queue", "action", "resolver"], name="rollup_one_cell")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.queue or '-'}/{self.action or '-'}/{self.resolver or '-'}"


class Baseline(models.Model):
    """Phase 1: the workflow before the agent, computed from a period of tickets or entered by hand."""

    class Source(models.TextChoices):
        COMPUTED = "computed", "Computed from tickets"
        MANUAL = "manual", "Entered by hand"

    name = models.CharField(max_length=100)
    source = models.CharField(max_length=16, choices=Source.choices)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True, help_text="Inclusive.")
    monthly_volume = models.FloatField(help_text="Tickets per 30 days.")
    cycle_time_hours = models.FloatField(help_text="Median (p50) time from creation to resolution.")
    error_rate = models.FloatField(
        help_text="Share of resolved tickets reopened within 7 days or marked wrong."
    )
    staff_hours_monthly = models.FloatField(help_text="Service-desk hours per 30 days.")
    escalation_rate = models.FloatField(help_text="Share of tickets handed to a human queue.")
    notes = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "governance_baseline"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class Review(models.Model):
    """A pilot (phase 3) or quarterly (phase 4) review: a period compared with a baseline, against
    thresholds that must be set before the period starts."""

    class Kind(models.TextChoices):
        PILOT = "pilot", "Pilot review"
        QUARTERLY = "quarterly", "Quarterly review"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=100)
    baseline = models.ForeignKey(Baseline, on_delete=models.PROTECT, related_name="reviews")
    period_start = models.DateField()
    period_end = models.DateField(help_text="Inclusive.")
    max_cycle_time_ratio = models.FloatField(
        default=0.8, help_text="Cycle time p50 at most this times the baseline's."
    )
    max_error_rate = models.FloatField(default=0.05, help_text="Error rate at most this.")
    max_staff_hours_ratio = models.FloatField(
        default=0.8, help_text="Staff hours per 30 days at most this times the baseline's."
    )
    max_escalation_rate = models.FloatField(default=0.6, help_text="Escalation rate at most this.")
    thresholds_set_at = models.DateTimeField(db_default=Now())
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "governance_review"
        ordering = ["-period_start", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name}"


class AlertKind(models.TextChoices):
    TOLERANCE = "tolerance", "Tolerance band"
    ANOMALY = "anomaly", "Anomaly"
    DRIFT = "drift", "Drift"


class Alert(models.Model):
    """Something the monitors found. ``key`` makes raising idempotent: one alert per rule and window."""

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    rule = models.CharField(max_length=64)
    subject = models.CharField(max_length=64, blank=True, help_text="Action code, metric or dimension.")
    message = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    paused = models.CharField(
        max_length=64, blank=True, help_text="What was paused automatically: 'agent', an action, or nothing."
    )
    created_at = models.DateTimeField(db_default=Now())
    emailed_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "governance_alert"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["acknowledged_at", "-created_at"], name="alert_open_recent")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


class DriftCheck(models.Model):
    """One comparison of last week's request mix or confidence with a reference window."""

    dimension = models.CharField(max_length=32)  # intent | queue | confidence
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    reference_start = models.DateTimeField()
    reference_end = models.DateTimeField()
    psi = models.FloatField()
    chi2 = models.FloatField()
    p_value = models.FloatField()
    drifted = models.BooleanField()
    data = models.JSONField(default=dict, blank=True, help_text="Both distributions, by bin.")
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "governance_driftcheck"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.dimension} psi={self.psi:.3f}"


class BacktestStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class BacktestChange(models.TextChoices):
    """How a replayed ticket compares with what happened. "Acted" means execute or ask for approval."""

    UNCHANGED = "unchanged", "Unchanged"
    NEWLY_ACTED = "newly_acted", "Newly acted"
    NO_LONGER_ACTED = "no_longer_acted", "No longer acted"
    DIFFERENT_ACTION = "different_action", "Different action"
    APPROVAL_NOW_REQUIRED = "approval_now_required", "Approval now required"
    APPROVAL_NO_LONGER_REQUIRED = "approval_no_longer_required", "Approval no longer required"


class BacktestRun(models.Model):
    """Past tickets replayed through the current agent and policy, with what-if catalog changes
    applied in memory only. Written by ``insights.backtest``; nothing else changes."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(db_default=Now())
    period_start = models.DateField()
    period_end = models.DateField(help_text="Inclusive.")
    queue = models.CharField(max_length=50, blank=True, help_text="Queue slug; empty: every queue.")
    limit = models.PositiveIntegerField(null=True, blank=True, help_text="At most this many tickets.")
    overrides = models.JSONField(default=dict, blank=True, help_text="What-if catalog changes, never saved.")
    status = models.CharField(max_length=16, choices=BacktestStatus.choices, default=BacktestStatus.QUEUED)
    error = models.CharField(max_length=500, blank=True)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True, help_text="Counts by change, action and queue.")
    agent = models.JSONField(default=dict, blank=True, help_text="AGENT_LLM, its role, the embedding model.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "governance_backtestrun"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"backtest {self.pk} ({self.status})"

    @property
    def seconds(self) -> float | None:
        """How long the replay took (started to finished), once it has finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def changed(self) -> int:
        """Replayed tickets whose outcome would change (every class but "unchanged")."""
        counts = (self.summary or {}).get("changes", {})
        return sum(n for code, n in counts.items() if code != BacktestChange.UNCHANGED)


class BacktestTicket(models.Model):
    """One replayed ticket: what happened, what would happen now, and the class of the change."""

    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="tickets")
    ticket = models.ForeignKey("servicedesk.Ticket", on_delete=models.CASCADE, related_name="+")
    queue = models.CharField(max_length=50, blank=True)
    before_outcome = models.CharField(max_length=32)
    before_action = models.CharField(max_length=64, blank=True)
    before_params = models.JSONField(default=dict, blank=True)
    after_outcome = models.CharField(max_length=32)
    after_action = models.CharField(max_length=64, blank=True)
    after_params = models.JSONField(default=dict, blank=True)
    after_rules = models.JSONField(default=list, blank=True)
    after_reason = models.CharField(max_length=500, blank=True)
    change = models.CharField(max_length=32, choices=BacktestChange.choices)

    class Meta:
        db_table = "governance_backtestticket"
        ordering = ["ticket_id"]
        constraints = [models.UniqueConstraint(fields=["run", "ticket"], name="backtest_one_row_per_ticket")]
        indexes = [models.Index(fields=["run", "change"], name="backtest_run_change")]

    def __str__(self) -> str:
        return f"#{self.ticket_id}: {self.change}"
