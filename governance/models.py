"""Governance: what the agent may do (catalog), who must approve, what was done (executions), the
kill switch and the built-in directory. The audit trail is core's, the managers' records insights'."""

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
