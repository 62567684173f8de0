"""Governance: what the agent may do (catalog), who must approve, what was done (executions), the
kill switch, the built-in directory, and the append-only audit trail."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Now


class ActionCode(models.TextChoices):
    """The enumerated list of actions the agent may ever take. Anything else is denied by default."""

    RESET_PASSWORD = "reset_password", "Reset password"
    UNLOCK_ACCOUNT = "unlock_account", "Unlock account"
    RESET_MFA = "reset_mfa", "Reset MFA"
    GRANT_GROUP_ACCESS = "grant_group_access", "Grant group access"
    INSTALL_SOFTWARE = "install_software", "Install software"


class Tier(models.TextChoices):
    STANDARD = "standard", "Standard: the agent may grant it"
    SENSITIVE = "sensitive", "Sensitive: the requester's manager approves"
    PRIVILEGED = "privileged", "Privileged: never granted by the agent"


class CatalogAction(models.Model):
    code = models.CharField(max_length=64, unique=True, choices=ActionCode.choices)
    description = models.TextField(
        help_text="What the action does; shown to the model as the tool description."
    )
    example_requests = models.JSONField(
        default=list, blank=True, help_text="Phrasings the router learns from."
    )
    parameters = models.JSONField(default=dict, blank=True, help_text="JSON schema of the parameters.")
    risk_rules = models.TextField(blank=True, help_text="The approval rules in words, for people.")
    enabled = models.BooleanField(default=True)
    paused = models.BooleanField(default=False, help_text="Kill switch for this action alone.")
    paused_reason = models.CharField(max_length=500, blank=True)
    hourly_budget = models.PositiveIntegerField(
        default=30, help_text="Executions per rolling hour, all requesters."
    )
    requires_staff_approval = models.BooleanField(default=False)
    autonomous_max_cost_usd = models.PositiveIntegerField(
        null=True, blank=True, help_text="Yearly licence cost up to which no approval is needed."
    )
    lead_approval_above_usd = models.PositiveIntegerField(
        null=True, blank=True, help_text="Yearly licence cost above which the service-desk lead approves too."
    )
    queue = models.ForeignKey(
        "servicedesk.Queue",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Where tickets for this action go when a human must decide.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class DirectoryGroup(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300)
    tier = models.CharField(max_length=16, choices=Tier.choices)
    standard_for_departments = models.JSONField(
        default=list, blank=True, help_text="Departments for which this group counts as standard."
    )
    aliases = models.JSONField(default=list, blank=True, help_text="Other names people use for it.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Software(models.Model):
    name = models.CharField(max_length=100, unique=True)
    yearly_cost_usd = models.PositiveIntegerField()
    aliases = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "software"

    def __str__(self) -> str:
        return self.name


class AgentMode(models.TextChoices):
    OFF = "off", "Off: every ticket goes to a human"
    SHADOW = "shadow", "Shadow: the agent decides, nothing is executed, staff work the ticket"
    PILOT = "pilot", "Pilot: the agent acts for a cohort only"
    PRODUCTION = "production", "Production: the agent acts within its policy"


class AgentControl(models.Model):
    """The global kill switch and the agent's mode: one row (pk=1). Per-action pauses live on
    ``CatalogAction``."""

    paused = models.BooleanField(default=False)
    reason = models.CharField(max_length=500, blank=True)
    mode = models.CharField(max_length=16, choices=AgentMode.choices, default=AgentMode.PRODUCTION)
    pilot_departments = models.JSONField(default=list, blank=True, help_text="Pilot cohort: departments.")
    pilot_percent = models.PositiveSmallIntegerField(
        default=0, help_text="Pilot cohort: this share of tickets (0-100), by a stable hash of the ticket id."
    )
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    changed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return "agent paused" if self.paused else "agent running"


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    VOID = "void", "Void (the request changed)"


class ApproverRole(models.TextChoices):
    MANAGER = "manager", "The requester's manager"
    SERVICE_DESK = "service_desk", "Service-desk staff"
    SERVICE_DESK_LEAD = "service_desk_lead", "Service-desk lead"


class ApprovalRequest(models.Model):
    """An approval bound to one exact action: the SHA-256 of action, parameters and requester."""

    ticket = models.ForeignKey("servicedesk.Ticket", on_delete=models.PROTECT, related_name="approvals")
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Who asked for the action: empty for the agent, else the staff member who ran it from the
    # workspace. Once approved and done, the ticket is resolved in their name, not the agent's.
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=64, choices=ActionCode.choices)
    params = models.JSONField(default=dict)
    digest = models.CharField(max_length=64, db_index=True)
    rule_ids = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING)
    created_at = models.DateTimeField(db_default=Now())
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "expires_at"], name="approval_status_expiry")]

    def __str__(self) -> str:
        return f"{self.action} for #{self.ticket_id} ({self.status})"


class ApprovalStep(models.Model):
    """One approver's part of a request; a request is approved when every step is."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="steps")
    role = models.CharField(max_length=32, choices=ApproverRole.choices)
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="A named approver (the manager); empty when anyone holding the role may decide.",
    )
    decision = models.CharField(
        max_length=16, blank=True, choices=[("approved", "Approved"), ("rejected", "Rejected")]
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["request", "role"], name="one_step_per_role")]

    def __str__(self) -> str:
        return f"{self.role}: {self.decision or 'pending'}"


class ExecutionStatus(models.TextChoices):
    STARTED = "started", "Started"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Execution(models.Model):
    """One side effect on the directory. The unique key is claimed before anything is done."""

    idempotency_key = models.CharField(max_length=64, unique=True)
    ticket = models.ForeignKey("servicedesk.Ticket", on_delete=models.PROTECT, related_name="executions")
    action = models.CharField(max_length=64, choices=ActionCode.choices)
    params = models.JSONField(default=dict)
    digest = models.CharField(max_length=64)
    connector = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=ExecutionStatus.choices, default=ExecutionStatus.STARTED)
    attempts = models.PositiveSmallIntegerField(default=0)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True)
    started_at = models.DateTimeField(db_default=Now())
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["action", "started_at"], name="execution_action_time")]

    def __str__(self) -> str:
        return f"{self.action} for #{self.ticket_id} ({self.status})"


class AuditEvent(models.Model):
    """Append-only, hash-chained. No foreign keys: deleting a user or ticket must never touch a row."""

    created_at = models.DateTimeField()
    actor_kind = models.CharField(max_length=16)  # user | agent | system
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=150, blank=True)
    code = models.CharField(max_length=100, db_index=True)
    ticket_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["created_at"], name="audit_created")]

    def __str__(self) -> str:
        return f"{self.id} {self.code}"


# The built-in directory: the embedded default connector's data, holding the demo organisation.


class DirectoryAccount(models.Model):
    username = models.CharField(max_length=150, unique=True)
    display_name = models.CharField(max_length=200)
    email = models.EmailField()
    department = models.CharField(max_length=100, blank=True)
    protected = models.BooleanField(default=False)
    locked = models.BooleanField(default=False)
    mfa_enrolled = models.BooleanField(default=True)
    mfa_reset_pending = models.BooleanField(default=False)
    password_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.username


class DirectoryMembership(models.Model):
    account = models.ForeignKey(DirectoryAccount, on_delete=models.CASCADE, related_name="memberships")
    group = models.ForeignKey(DirectoryGroup, on_delete=models.PROTECT, related_name="memberships")
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "group"], name="one_membership")]

    def __str__(self) -> str:
        return f"{self.account_id} in {self.group_id}"


class SoftwareAssignment(models.Model):
    account = models.ForeignKey(DirectoryAccount, on_delete=models.CASCADE, related_name="software")
    software = models.ForeignKey(Software, on_delete=models.PROTECT, related_name="assignments")
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "software"], name="one_assignment")]

    def __str__(self) -> str:
        return f"{self.software_id} for {self.account_id}"


class ResetToken(models.Model):
    """A one-time password-reset link sent to the account's registered email. Only the hash is kept."""

    username = models.CharField(max_length=150, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    channel = models.CharField(max_length=200)
    created_at = models.DateTimeField(db_default=Now())
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    execution_key = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="The execution that issued it: one link per execution.",
    )

    def __str__(self) -> str:
        return f"reset link for {self.username}"


# Managers' side: daily rollups, baselines, reviews, monitoring alerts and drift checks. -------------


class DailyRollup(models.Model):
    """Pre-aggregated figures for the tickets created on ``day`` in one (queue, action, resolver) cell.

    Tickets are counted by the day they were created (a cohort), so every rate on the dashboards has
    the same denominator. Rebuilt for recent days by ``governance.rollups.rollups_rebuild``; the
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
    applied in memory only. Written by ``governance.backtest``; nothing else changes."""

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
        ordering = ["ticket_id"]
        constraints = [models.UniqueConstraint(fields=["run", "ticket"], name="backtest_one_row_per_ticket")]
        indexes = [models.Index(fields=["run", "change"], name="backtest_run_change")]

    def __str__(self) -> str:
        return f"#{self.ticket_id}: {self.change}"
