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
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(db_default=Now())
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

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
