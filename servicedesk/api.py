"""REST API for employees' own tickets. Another person's ticket is a 404, never a 403."""

from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import QuerySet
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.throttling import BaseThrottle

from servicedesk import selectors, services
from servicedesk.models import Ticket
from servicedesk.roles import request_user
from servicedesk.serializers import (
    CommentCreateSerializer,
    CommentSerializer,
    ReopenSerializer,
    TicketCreateSerializer,
    TicketSerializer,
)
from servicedesk.throttles import TicketCreateThrottle


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class ApiSchema(AutoSchema):
    """The OpenAPI schema of every API view (``DEFAULT_SCHEMA_CLASS``): besides its success response,
    each operation documents the errors it can answer with, so clients (and the schema fuzzing in
    tests/test_api_fuzz.py) know them: 400 for a body that does not validate, 401/403 for who may
    call it, 404 for an object that is not there (or not yours: never a 403) and for a page past
    the end, 429 for the rate limits. Operations add their own (409) with ``extend_schema``."""

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:  # type: ignore[override]
        bodies: dict[str, Any] = super()._get_response_bodies(direction)  # type: ignore[arg-type]
        if direction != "response":
            return bodies
        for code, response in self._errors().items():
            bodies.setdefault(code, self._get_response_for_code(response, code, direction=direction))  # type: ignore[arg-type]
        return bodies

    def _errors(self) -> dict[str, OpenApiResponse]:
        def error(description: str) -> OpenApiResponse:
            return OpenApiResponse(ErrorSerializer, description=description)

        errors = {"429": error("Too many requests: the rate limit; retry after the Retry-After header.")}
        public = all(issubclass(p, permissions.AllowAny) for p in self.view.permission_classes)
        if not public:
            errors["401"] = error(
                "No valid credentials: a token (`Authorization: Token <key>`) or a session."
            )
            errors["403"] = error("Signed in, but not allowed (or a session request without its CSRF token).")
        if self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None:
            errors["400"] = OpenApiResponse(OpenApiTypes.OBJECT, description="The body does not validate: "
                                            "each field with its messages.")  # fmt: skip
        if "{" in self.path or (self._is_list_view() and self._get_paginator() is not None):
            errors["404"] = error("No such object for you, or a page past the end of the list.")
        return errors


CONFLICT = OpenApiResponse(ErrorSerializer, description="The ticket's status does not allow this now.")


class TicketViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = TicketSerializer

    def get_queryset(self) -> QuerySet[Ticket]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user, no rows
            return Ticket.objects.none()
        return selectors.tickets_of_requester(requester=request_user(self.request))

    @extend_schema(request=TicketCreateSerializer, responses={201: TicketSerializer})
    def create(self, request: Request) -> Response:
        data = TicketCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = services.ticket_submit(requester=request_user(request), **data.validated_data)
        body = TicketSerializer(ticket, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], responses={200: CommentSerializer(many=True)})
    @extend_schema(
        methods=["POST"], request=CommentCreateSerializer, responses={201: CommentSerializer, 409: CONFLICT}
    )
    @action(detail=True, methods=["get", "post"])
    def comments(self, request: Request, pk: str | None = None) -> Response:
        ticket = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.public_comments(ticket=ticket))
            return self.get_paginated_response(CommentSerializer(page, many=True).data)
        data = CommentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        comment = _or_conflict(
            lambda: services.comment_add_reply(
                ticket=ticket, author=request_user(request), body=data.validated_data["body"]
            )
        )
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: TicketSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, pk: str | None = None) -> Response:
        ticket = _or_conflict(
            lambda: services.ticket_confirm_resolution(ticket=self.get_object(), user=request_user(request))
        )
        return Response(self._serialize(ticket))

    @extend_schema(request=ReopenSerializer, responses={200: TicketSerializer, 409: CONFLICT})
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str | None = None) -> Response:
        ticket = self.get_object()
        data = ReopenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = _or_conflict(
            lambda: services.ticket_reopen(
                ticket=ticket, user=request_user(request), reason=data.validated_data["reason"]
            )
        )
        return Response(self._serialize(ticket))

    def _serialize(self, ticket: Ticket) -> object:
        return TicketSerializer(ticket, context=self.get_serializer_context()).data

    def get_throttles(self) -> list[BaseThrottle]:
        throttles = super().get_throttles()
        return [*throttles, TicketCreateThrottle()] if self.action == "create" else throttles

    def get_serializer_class(self) -> type[BaseSerializer]:
        return TicketCreateSerializer if self.action == "create" else TicketSerializer


class Conflict(ValidationError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


T = TypeVar("T")


def _or_conflict(call: Callable[[], T]) -> T:
    """Run a service; a state the ticket does not allow becomes a 409 with the service's message."""
    try:
        return call()
    except services.TicketError as error:
        raise Conflict({"detail": str(error)}) from error
