"""The audit trail's one model. Its table keeps the name governance gave it (see migrations/0001)."""

from django.db import models


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
        db_table = "governance_auditevent"  # the table governance created; its append-only trigger stays
        ordering = ["id"]
        indexes = [models.Index(fields=["created_at"], name="audit_created")]

    def __str__(self) -> str:
        return f"{self.id} {self.code}"
