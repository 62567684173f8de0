from typing import Any

from rest_framework import serializers

from servicedesk.models import (
    COMMENT_MAX_LENGTH,
    DESCRIPTION_MAX_LENGTH,
    SUBJECT_MAX_LENGTH,
    Comment,
    EscalationReason,
    ResolverKind,
    Ticket,
)

_LIMIT_MESSAGES: dict[str, Any] = {
    "max_length": "Ensure this field has no more than {max_length} characters.",
    "blank": "This field may not be blank or only whitespace.",
}


class TicketCreateSerializer(serializers.Serializer):
    subject = serializers.CharField(max_length=SUBJECT_MAX_LENGTH, error_messages=_LIMIT_MESSAGES)
    description = serializers.CharField(max_length=DESCRIPTION_MAX_LENGTH, error_messages=_LIMIT_MESSAGES)


class TicketSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    # Declared rather than generated: a ticket not yet in a queue, not escalated or not resolved has
    # null or "" here, and the OpenAPI schema must say so (tests/test_api_fuzz.py checks it does).
    queue: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    queue_name = serializers.CharField(source="queue.name", read_only=True, default=None, allow_null=True)
    escalation_reason = serializers.ChoiceField(
        choices=EscalationReason.choices, read_only=True, allow_blank=True
    )
    escalation_reason_display = serializers.CharField(source="get_escalation_reason_display", read_only=True)
    resolver_kind = serializers.ChoiceField(choices=ResolverKind.choices, read_only=True, allow_blank=True)
    url = serializers.HyperlinkedIdentityField(view_name="api:ticket-detail")

    class Meta:
        model = Ticket
        fields = [
            "id",
            "reference",
            "url",
            "subject",
            "description",
            "status",
            "status_display",
            "priority",
            "queue",
            "queue_name",
            "escalation_reason",
            "escalation_reason_display",
            "escalation_detail",
            "resolver_kind",
            "created_at",
            "updated_at",
            "first_response_at",
            "resolved_at",
            "closed_at",
        ]
        read_only_fields = fields


class CommentSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()

    class Meta:
        model = Comment
        fields = ["id", "author", "author_kind", "body", "created_at"]
        read_only_fields = fields

    def get_author(self, comment: Comment) -> str:
        if comment.author is None:
            return comment.get_author_kind_display()
        return comment.author.get_full_name() or comment.author.get_username()


class CommentCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=COMMENT_MAX_LENGTH, error_messages=_LIMIT_MESSAGES)


class ReopenSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, error_messages=_LIMIT_MESSAGES)
