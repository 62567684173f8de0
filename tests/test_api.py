from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from servicedesk.models import AuthorKind, Comment, Ticket, TicketStatus, Visibility
from tests.factories import TicketFactory

pytestmark = pytest.mark.django_db
TICKETS = "/api/tickets/"


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", TICKETS),
        ("post", TICKETS),
        ("get", f"{TICKETS}1/"),
        ("get", f"{TICKETS}1/comments/"),
        ("post", f"{TICKETS}1/comments/"),
        ("post", f"{TICKETS}1/reopen/"),
        ("post", f"{TICKETS}1/confirm/"),
    ],
)
def test_unauthenticated_calls_get_401_and_change_nothing(anonymous_api, method, path):
    response = getattr(anonymous_api, method)(path, {"subject": "x", "description": "y"}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert Ticket.objects.count() == 0


def test_token_authentication_end_to_end(alice):
    client = APIClient()
    response = client.post(
        "/api/auth/token/", {"username": "alice", "password": "pw-for-tests"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["token"] == Token.objects.get(user=alice).key
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    created = client.post(TICKETS, {"subject": "Zoom", "description": "Please install Zoom"}, format="json")
    assert created.status_code == 201
    assert Ticket.objects.get().requester == alice


def test_wrong_password_gets_no_token(alice):
    response = APIClient().post("/api/auth/token/", {"username": "alice", "password": "nope"}, format="json")
    assert response.status_code == 400
    assert Token.objects.count() == 0


def test_create_returns_the_new_ticket(api, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(
            TICKETS, {"subject": " Locked out ", "description": "Since this morning"}, format="json"
        )
    assert response.status_code == 201
    body = response.json()
    ticket = Ticket.objects.get()
    assert body["id"] == ticket.pk
    assert body["reference"] == f"SD-{ticket.pk:05d}"
    assert (body["subject"], body["status"], body["queue"]) == ("Locked out", "new", None)
    assert body["url"].endswith(f"/api/tickets/{ticket.pk}/")
    assert len(callbacks) == 1


@pytest.mark.parametrize(
    "payload,errors",
    [
        (
            {"subject": "x" * 201, "description": "ok"},
            {"subject": ["Ensure this field has no more than 200 characters."]},
        ),
        (
            {"subject": "ok", "description": "x" * 10_001},
            {"description": ["Ensure this field has no more than 10000 characters."]},
        ),
        (
            {"subject": "", "description": ""},
            {
                "subject": ["This field may not be blank or only whitespace."],
                "description": ["This field may not be blank or only whitespace."],
            },
        ),
        (
            {"subject": "   ", "description": "\n\t"},
            {
                "subject": ["This field may not be blank or only whitespace."],
                "description": ["This field may not be blank or only whitespace."],
            },
        ),
        ({}, {"subject": ["This field is required."], "description": ["This field is required."]}),
        ({"subject": ["a list"], "description": "ok"}, {"subject": ["Not a valid string."]}),
    ],
)
def test_create_validation_names_the_field_and_the_limit(api, payload, errors):
    response = api.post(TICKETS, payload, format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert Ticket.objects.count() == 0


def test_create_at_the_limits_is_accepted(api):
    response = api.post(TICKETS, {"subject": "s" * 200, "description": "d" * 10_000}, format="json")
    assert response.status_code == 201


def test_malformed_json_is_a_clear_400(api):
    response = api.post(TICKETS, data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


def test_list_is_own_tickets_paginated(api, alice, bob):
    TicketFactory.create_batch(30, requester=alice)
    TicketFactory(requester=bob, subject="bob's")
    first = api.get(TICKETS).json()
    assert first["count"] == 30
    assert len(first["results"]) == 25
    assert first["next"].endswith("/api/tickets/?page=2")
    second = api.get(first["next"]).json()
    assert len(second["results"]) == 5
    assert all(row["subject"] != "bob's" for row in first["results"] + second["results"])


def test_list_query_count_is_constant(api, alice, django_assert_num_queries):
    TicketFactory.create_batch(25, requester=alice)
    with django_assert_num_queries(2):  # count + page with queues
        api.get(TICKETS)


def test_another_persons_ticket_is_404_everywhere(api, bob):
    ticket = TicketFactory(requester=bob, status=TicketStatus.RESOLVED, resolved_at=timezone.now())
    base = f"{TICKETS}{ticket.pk}/"
    assert api.get(base).status_code == 404
    assert api.get(f"{base}comments/").status_code == 404
    assert api.post(f"{base}comments/", {"body": "hi"}, format="json").status_code == 404
    assert api.post(f"{base}confirm/").status_code == 404
    assert api.post(f"{base}reopen/", {"reason": "x"}, format="json").status_code == 404
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED
    assert Comment.objects.count() == 0


def test_comments_are_public_only_and_replies_are_added(api, alice):
    ticket = TicketFactory(requester=alice, status=TicketStatus.ESCALATED)
    Comment.objects.create(ticket=ticket, author_kind=AuthorKind.SYSTEM, body="Passed to General")
    Comment.objects.create(
        ticket=ticket, author_kind=AuthorKind.STAFF, visibility=Visibility.INTERNAL, body="secret note"
    )
    url = f"{TICKETS}{ticket.pk}/comments/"
    listed = api.get(url).json()
    assert [c["body"] for c in listed["results"]] == ["Passed to General"]
    assert listed["results"][0]["author"] == "System"
    reply = api.post(url, {"body": "Any news?"}, format="json")
    assert reply.status_code == 201
    assert reply.json()["author"] == "Alice Chen"
    assert reply.json()["author_kind"] == "requester"
    assert [c["body"] for c in api.get(url).json()["results"]] == ["Passed to General", "Any news?"]


def test_comment_validation(api, alice):
    ticket = TicketFactory(requester=alice)
    response = api.post(f"{TICKETS}{ticket.pk}/comments/", {"body": " "}, format="json")
    assert response.status_code == 400
    assert response.json() == {"body": ["This field may not be blank or only whitespace."]}


def test_reply_to_closed_ticket_is_a_409_with_explanation(api, alice):
    ticket = TicketFactory(requester=alice, status=TicketStatus.CLOSED)
    response = api.post(f"{TICKETS}{ticket.pk}/comments/", {"body": "hello"}, format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": "This ticket is closed. Please submit a new ticket instead."}


def test_confirm_and_reopen_through_the_api(api, alice):
    ticket = TicketFactory(requester=alice, status=TicketStatus.RESOLVED, resolved_at=timezone.now())
    assert api.post(f"{TICKETS}{ticket.pk}/confirm/").json()["status"] == "closed"
    other = TicketFactory(
        requester=alice, status=TicketStatus.RESOLVED, resolved_at=timezone.now() - timedelta(days=1)
    )
    response = api.post(f"{TICKETS}{other.pk}/reopen/", {"reason": "Still broken"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "reopened"


def test_reopen_in_wrong_state_is_409(api, alice):
    ticket = TicketFactory(requester=alice, status=TicketStatus.ESCALATED)
    response = api.post(f"{TICKETS}{ticket.pk}/reopen/", {"reason": "x"}, format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": "Only a resolved ticket can be reopened."}
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.ESCALATED


def test_ticket_ids_cannot_be_forged_on_create(api, alice, bob):
    response = api.post(
        TICKETS,
        {
            "subject": "x",
            "description": "y",
            "requester": bob.pk,
            "status": "resolved",
            "queue": "hardware",
            "id": 77,
        },
        format="json",
    )
    assert response.status_code == 201
    ticket = Ticket.objects.get()
    assert (ticket.requester, ticket.status, ticket.queue, ticket.pk != 77) == (alice, "new", None, True)


def test_openapi_schema_and_docs_are_served(anonymous_api, alice_client):
    schema = anonymous_api.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/tickets/", "/api/tickets/{id}/", "/api/tickets/{id}/comments/"} <= set(paths)
    docs = alice_client.get("/api/docs/")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.content.decode()
