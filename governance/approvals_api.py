"""Approvals through the API: list what waits for me, approve or reject one step."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from governance import approvals, selectors
from governance.models import ApprovalStep
from servicedesk.api import ErrorSerializer
from servicedesk.roles import request_user


class ApprovalStepSerializer(serializers.Serializer):
    step = serializers.IntegerField(source="pk")
    approval = serializers.IntegerField(source="request.pk")
    ticket = serializers.IntegerField(source="request.ticket_id")
    ticket_reference = serializers.CharField(source="request.ticket.reference")
    requester = serializers.CharField(source="request.requester.username")
    action = serializers.CharField(source="request.action")
    params = serializers.DictField(source="request.params", child=serializers.CharField())
    description = serializers.SerializerMethodField()
    digest = serializers.CharField(source="request.digest")
    role = serializers.CharField()
    created_at = serializers.DateTimeField(source="request.created_at")
    expires_at = serializers.DateTimeField(source="request.expires_at")

    def get_description(self, step: ApprovalStep) -> str:
        return selectors.describe_action(step.request.action, step.request.params)


class ApprovalDecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


@extend_schema(responses={200: ApprovalStepSerializer(many=True)})
@api_view(["GET"])
def pending(request: Request) -> Response:
    """The approval steps this user may decide, newest first."""
    return Response(
        ApprovalStepSerializer(selectors.pending_steps_for(request_user(request)), many=True).data
    )


@extend_schema(
    request=ApprovalDecisionSerializer,
    responses={
        200: ApprovalStepSerializer,
        409: OpenApiResponse(
            ErrorSerializer, description="The approval is decided, expired or not yours to decide."
        ),
    },
)
@api_view(["POST"])
def decide_step(request: Request, step_id: int) -> Response:
    data = ApprovalDecisionSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    user = request_user(request)
    step = (
        ApprovalStep.objects.select_related("request__ticket", "request__requester")
        .filter(pk=step_id)
        .first()
    )
    if step is None or not (selectors.can_decide_step(user, step) or step.decided_by_id == user.pk):
        return Response({"detail": "No such approval for you."}, status=status.HTTP_404_NOT_FOUND)
    try:
        approvals.approval_decide(
            step_id=step.pk,
            user=user,
            approve=data.validated_data["decision"] == "approve",
            reason=data.validated_data["reason"],
        )
    except approvals.ApprovalError as error:
        return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
    step.refresh_from_db()
    return Response(ApprovalStepSerializer(step).data)
