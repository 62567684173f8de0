from django.conf import settings
from django.db import models
from django.db.models.functions import Now

SUBJECT_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 10_000
COMMENT_MAX_LENGTH = 10_000


class Role(models.TextChoices):
    """Django groups that carry the product's three kinds of users."""

    EMPLOYEE = "employees", "Employee"
    SERVICE_DESK = "service-desk", "Service-desk staff"
    SERVICE_DESK_LEAD = "service-desk-lead", "Service-desk lead"
    MANAGER = "managers", "Manager"


class Profile(models.Model):
    """What the organisation knows about a person: department, line manager, protection."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    department = models.CharField(max_length=100, blank=True)
    title = models.CharField(max_length=100, blank=True)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )
    is_protected = models.BooleanField(
        default=False, help_text="Executive or other protected account: the agent never acts on it."
    )

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.department or 'no department'})"


# The five teams: (slug, name, description). Created by a data migration and on demand.
TEAM_QUEUES = [
    ("accounts-access", "Accounts & Access", "Passwords, lockouts, MFA, group and permission requests."),
    ("software", "Software", "Software installs, licences and application problems."),
    ("hardware", "Hardware", "Laptops, monitors, phones, printers and peripherals."),
    ("network", "Network", "Wi-Fi, VPN, office network and connectivity."),
    ("general", "General", "Everything else, and anything the agent could not place."),
]


class QueueManager(models.Manager["Queue"]):
    def team(self, slug: str) -> "Queue":
        """One of the five team queues, recreated if it was deleted (it is part of the product)."""
        known = {row[0]: row for row in TEAM_QUEUES}
        if slug not in known:
            raise ValueError(f"unknown queue {slug!r}")
        _, name, description = known[slug]
        queue, _ = self.get_or_create(
            slug=slug,
            defaults={"name": name, "description": description, "position": list(known).index(slug)},
        )
        return queue


class Queue(models.Model):
    """A human team's queue."""

    GENERAL = "general"
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Told of SLA breaches in this queue; when empty, every service-desk lead is.",
    )

    objects = QueueManager()

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class TicketStatus(models.TextChoices):
    NEW = "new", "New"
    TRIAGING = "triaging", "Being triaged"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    AWAITING_REQUESTER = "awaiting_requester", "Awaiting your reply"
    ESCALATED = "escalated", "With the service desk"
    IN_PROGRESS = "in_progress", "In progress"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"
    REOPENED = "reopened", "Reopened"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class ResolverKind(models.TextChoices):
    AGENT = "agent", "Agent"
    STAFF = "staff", "Service-desk staff"


class EscalationReason(models.TextChoices):
    """Why a ticket went to a human queue. Stable codes; the label is what people read."""

    AGENT_DISABLED = "agent_disabled", "agent disabled"
    AGENT_PAUSED = "agent_paused", "the agent is paused"
    AGENT_FAILED = "agent_failed", "the agent could not process the request"
    OUT_OF_SCOPE = "out_of_scope", "not a request the agent handles"
    POLICY = "policy", "a person must decide this request"
    NEEDS_HUMAN = "needs_human", "the request needs a person to clarify it"
    APPROVAL_REJECTED = "approval_rejected", "the approval was declined"
    APPROVAL_EXPIRED = "approval_expired", "the approval expired"
    EXECUTION_FAILED = "execution_failed", "the change could not be completed"
    REOPENED = "reopened", "reopened by the requester"


class Ticket(models.Model):
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tickets")
    subject = models.CharField(max_length=SUBJECT_MAX_LENGTH)
    description = models.TextField(max_length=DESCRIPTION_MAX_LENGTH)
    status = models.CharField(max_length=32, choices=TicketStatus.choices, default=TicketStatus.NEW)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="tickets")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tickets",
    )
    resolver_kind = models.CharField(max_length=16, choices=ResolverKind.choices, blank=True)
    escalation_reason = models.CharField(max_length=64, choices=EscalationReason.choices, blank=True)
    escalation_detail = models.CharField(max_length=500, blank=True)
    triage_attempts = models.PositiveSmallIntegerField(default=0)
    questions_asked = models.PositiveSmallIntegerField(default=0, help_text="Clarifying questions asked.")
    reopened_count = models.PositiveSmallIntegerField(default=0)
    handling_seconds = models.PositiveIntegerField(
        default=0,
        help_text="Staff time on the ticket: minutes logged on replies, else claim to resolve.",
    )
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(db_default=Now())
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # The resolution SLA clock stops while the ticket waits on the requester (see workspace/sla.py).
    sla_paused_at = models.DateTimeField(
        null=True, blank=True, help_text="Waiting on the requester since: the resolution clock is stopped."
    )
    sla_paused_seconds = models.PositiveIntegerField(
        default=0, help_text="Time spent waiting on the requester in earlier pauses; added to the due time."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["requester", "-created_at"], name="ticket_requester_recent"),
            models.Index(fields=["status", "status_changed_at"], name="ticket_status_age"),
            models.Index(fields=["queue", "status"], name="ticket_queue_status"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    @property
    def reference(self) -> str:
        return f"SD-{self.pk:05d}"


class AuthorKind(models.TextChoices):
    REQUESTER = "requester", "Requester"
    STAFF = "staff", "Service desk"
    AGENT = "agent", "Agent"
    SYSTEM = "system", "System"


class Visibility(models.TextChoices):
    PUBLIC = "public", "Public reply"
    INTERNAL = "internal", "Internal note"


class Comment(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    author_kind = models.CharField(max_length=16, choices=AuthorKind.choices)
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.PUBLIC)
    body = models.TextField(max_length=COMMENT_MAX_LENGTH)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="comment_ticket_time")]

    def __str__(self) -> str:
        return f"{self.get_author_kind_display()} on #{self.ticket_id}"


class StatusChange(models.Model):
    """One status transition, for the timeline and for cycle-time metrics."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=32, choices=TicketStatus.choices, blank=True)
    to_status = models.CharField(max_length=32, choices=TicketStatus.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_kind = models.CharField(max_length=16, choices=AuthorKind.choices)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="statuschange_ticket_time")]

    def __str__(self) -> str:
        return f"#{self.ticket_id}: {self.from_status or '-'} -> {self.to_status}"


class Notification(models.Model):
    """Something a person should see: a reply on their ticket, an approval waiting for them."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    ticket = models.ForeignKey(Ticket, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=64)  # e.g. "approval.requested", "ticket.replied"
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread")]

    def __str__(self) -> str:
        return f"to {self.recipient_id}: {self.text}"


# ---------------------------------------------------------------------------------------------
# The staff workspace: canned replies, routing corrections, verdicts on the agent, handling time,
# SLA breaches and "seen" markers. Written only through ``workspace.services``.


class CannedReply(models.Model):
    """A reply staff insert and edit before sending; managed in the admin."""

    title = models.CharField(max_length=100, unique=True)
    body = models.TextField(
        max_length=COMMENT_MAX_LENGTH,
        help_text="Placeholders: {requester_first_name}, {ticket_reference}, {staff_first_name}.",
    )
    queue = models.ForeignKey(
        Queue,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="canned_replies",
        help_text="Offered only on this queue's tickets; empty: on every ticket.",
    )
    is_active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "title"]
        verbose_name_plural = "canned replies"

    def __str__(self) -> str:
        return self.title


class RoutingChange(models.Model):
    """A staff member moved a ticket to another queue: a correction of the router's choice."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="routing_changes")
    from_queue = models.ForeignKey(Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"#{self.ticket_id}: {self.from_queue_id} -> {self.to_queue_id}"


class AgentCorrection(models.Model):
    """A staff member's verdict on what the agent did with a ticket; one per ticket, the latest wins.

    What the agent did is copied here when the verdict is given (the agent's own records may change
    shape), so a verdict can always be exported as an evaluation row. The managers' metrics count
    ``wrong`` rows as errors (``insights.rollups.marked_wrong``).
    """

    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, related_name="agent_correction")
    agent_run_id = models.BigIntegerField(null=True, blank=True)  # agents.AgentRun; no FK on purpose
    agent_outcome = models.CharField(max_length=32, blank=True)
    agent_action = models.CharField(max_length=64, blank=True)
    agent_params = models.JSONField(default=dict, blank=True)
    agent_queue = models.CharField(max_length=50, blank=True)
    wrong = models.BooleanField(help_text="The agent was wrong (otherwise: right).")
    correct_action = models.CharField(
        max_length=64, blank=True, help_text="Empty: no catalog action, a person handles the request."
    )
    correct_params = models.JSONField(default=dict, blank=True)
    correct_queue = models.ForeignKey(
        Queue, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(max_length=1000, blank=True)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.ticket_id}: agent {'wrong' if self.wrong else 'right'}"

    @property
    def verdict_label(self) -> str:
        return "Agent was wrong" if self.wrong else "Agent was right"


class WorkKind(models.TextChoices):
    HANDLING = "handling", "Claim to resolve"
    LOGGED = "logged", "Logged on a reply"


class WorkLog(models.Model):
    """Staff time on a ticket: a handling span (claim → resolve, open while ``ended_at`` is empty) or
    minutes logged on a reply (``seconds``)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="work_logs")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=16, choices=WorkKind.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    seconds = models.PositiveIntegerField(default=0)
    comment = models.ForeignKey(Comment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["started_at", "id"]
        indexes = [models.Index(fields=["ticket", "kind", "ended_at"], name="worklog_open_spans")]

    def __str__(self) -> str:
        return f"{self.kind} on #{self.ticket_id} by {self.user_id}"


class SlaKind(models.TextChoices):
    FIRST_RESPONSE = "first_response", "First response"
    RESOLUTION = "resolution", "Resolution"


class SlaBreach(models.Model):
    """A missed SLA target, recorded once per ticket and kind by the periodic task."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="sla_breaches")
    kind = models.CharField(max_length=16, choices=SlaKind.choices)
    due_at = models.DateTimeField()
    detected_at = models.DateTimeField(db_default=Now())
    priority_before = models.CharField(max_length=16, choices=Priority.choices)
    priority_after = models.CharField(max_length=16, choices=Priority.choices)

    class Meta:
        ordering = ["detected_at", "id"]
        constraints = [models.UniqueConstraint(fields=["ticket", "kind"], name="one_breach_per_kind")]

    def __str__(self) -> str:
        return f"#{self.ticket_id}: {self.kind} breached"


class TicketView(models.Model):
    """When a staff member last opened a ticket: drives the "new since you looked" markers."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="+")
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "ticket"], name="one_view_per_user")]

    def __str__(self) -> str:
        return f"{self.user_id} saw #{self.ticket_id}"
