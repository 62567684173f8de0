"""The kill switch over the API: managers read it and pause or resume the agent or one action.

Anonymous calls get 401 (token authentication comes first); signed-in non-managers get 403. Both
are refused before anything is read or written.
"""

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance import controls
from governance.models import CatalogAction
from servicedesk.roles import request_user


class CanControlAgent(permissions.BasePermission):
    message = "Only managers may read or change the kill switch."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return controls.can_control_agent(request.user)


class AgentStateSerializer(serializers.Serializer):
    paused = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)
    changed_by = serializers.CharField(allow_null=True)
    changed_at = serializers.DateTimeField(allow_null=True)


class ActionStateSerializer(serializers.Serializer):
    code = serializers.CharField()
    enabled = serializers.BooleanField()
    paused = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)


class KillSwitchStateSerializer(serializers.Serializer):
    agent = AgentStateSerializer()
    actions = ActionStateSerializer(many=True)


class KillSwitchToggleSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=controls.REASON_MAX_LENGTH,
        error_messages={"blank": "A reason is required.", "required": "A reason is required."},
    )
    action = serializers.CharField(
        required=False,
        help_text="A catalog action's code; leave it out to pause or resume the whole agent.",
    )

    def validate_action(self, value: str) -> str:
        if not CatalogAction.objects.filter(code=value).exists():
            raise serializers.ValidationError(f"{value!r} is not in the catalog.")
        return value


class KillSwitchView(APIView):
    permission_classes = [permissions.IsAuthenticated, CanControlAgent]

    @extend_schema(responses={200: KillSwitchStateSerializer})
    def get(self, request: Request) -> Response:
        return Response(KillSwitchStateSerializer(controls.kill_switch_state()).data)


class _ToggleView(APIView):
    permission_classes = [permissions.IsAuthenticated, CanControlAgent]
    pause = True

    @extend_schema(request=KillSwitchToggleSerializer, responses={200: KillSwitchStateSerializer})
    def post(self, request: Request) -> Response:
        data = KillSwitchToggleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, values = request_user(request), data.validated_data
        try:
            self._toggle(user=user, reason=values["reason"], code=values.get("action"))
        except DjangoPermissionDenied as error:
            raise PermissionDenied(str(error)) from error
        except controls.ControlError as error:
            raise ValidationError({error.field: [str(error)]}) from error
        return Response(KillSwitchStateSerializer(controls.kill_switch_state()).data)

    def _toggle(self, *, user: User, reason: str, code: str | None) -> None:
        if code is None:
            service = controls.agent_pause if self.pause else controls.agent_resume
            service(by=user, reason=reason)
        else:
            action_service = controls.action_pause if self.pause else controls.action_resume
            action_service(code=code, by=user, reason=reason)


class KillSwitchPauseView(_ToggleView):
    pause = True


class KillSwitchResumeView(_ToggleView):
    pause = False
