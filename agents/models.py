from django.db import models
from django.db.models.functions import Now

# Outcomes that settle a round: a re-delivered task finding one of these does nothing.
DECIDED_OUTCOMES = ("execute", "needs_approval", "escalate", "ask")


class AgentRun(models.Model):
    """One pass of the agent over a ticket: what it understood, proposed, and what governance said."""

    ticket = models.ForeignKey("servicedesk.Ticket", on_delete=models.CASCADE, related_name="agent_runs")
    # The ticket's questions_asked when the run started: a reply to a question starts a new round.
    round = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(db_default=Now())
    finished_at = models.DateTimeField(null=True, blank=True)
    router = models.JSONField(default=dict, blank=True)  # candidates with scores, out-of-scope score, queue
    proposal = models.JSONField(default=dict, blank=True)  # action, params, confidence, reasons
    outcome = models.CharField(max_length=32, blank=True)  # execute | needs_approval | escalate | ask | error
    rule_ids = models.JSONField(default=list, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    model = models.CharField(max_length=200, blank=True)
    prompt_version = models.CharField(max_length=50, blank=True)
    llm_calls = models.PositiveSmallIntegerField(default=0)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    tokens_estimated = models.BooleanField(default=False, help_text="The provider reported no usage.")
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "round"],
                condition=models.Q(outcome__in=DECIDED_OUTCOMES),
                name="one_decision_per_round",
            )
        ]

    def __str__(self) -> str:
        return f"run on #{self.ticket_id}: {self.outcome or 'running'}"
