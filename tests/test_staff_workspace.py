"""The ticket workspace: claim and assign, replies and internal notes, priority, status, resolve,
reopen, moves (routing corrections), and what the page shows."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from agents.models import AgentRun
from servicedesk import services
from servicedesk.models import (
    AuthorKind,
    CannedReply,
    Comment,
    Notification,
    Priority,
    Queue,
    ResolverKind,
    Role,
    RoutingChange,
    StatusChange,
    Ticket,
    TicketStatus,
    Visibility,
    WorkKind,
    WorkLog,
)
from servicedesk.services import TicketError
from tests.factories import ProfileFactory, TicketFactory, UserFactory
from workspace import services as staff_services
from workspace.metrics import workspace_metrics

pytestmark = pytest.mark.django_db


@pytest.fixture
def ivan(db):
    return UserFactory(
        username="ivan", first_name="Ivan", last_name="Petrov", roles=[Role.EMPLOYEE, Role.SERVICE_DESK]
    )


@pytest.fixture
def judy(db):
    return UserFactory(username="judy", first_name="Judy", last_name="Singh", roles=[Role.SERVICE_DESK])


@pytest.fixture
def ticket(alice):
    return TicketFactory(
        requester=alice,
        subject="Laptop screen cracked",
        status=TicketStatus.ESCALATED,
        queue=Queue.objects.team("hardware"),
    )


@pytest.fixture
def ivan_client(client, ivan):
    client.force_login(ivan)
    return client


def _notifications(user):
    return list(Notification.objects.filter(recipient=user).order_by("id").values_list("code", "text"))


def test_claim_takes_the_ticket_starts_handling_and_tells_the_requester(ivan, alice, ticket):
    staff_services.ticket_claim(ticket_id=ticket.pk, user=ivan)
    ticket.refresh_from_db()
    assert (ticket.assignee, ticket.status) == (ivan, TicketStatus.IN_PROGRESS)
    change = ticket.status_changes.get()
    assert (change.from_status, change.to_status, change.actor, change.actor_kind) == (
        TicketStatus.ESCALATED,
        TicketStatus.IN_PROGRESS,
        ivan,
        AuthorKind.STAFF,
    )
    span = WorkLog.objects.get()
    assert (span.user, span.kind, span.ended_at) == (ivan, WorkKind.HANDLING, None)
    assert [c.body for c in Comment.objects.filter(visibility=Visibility.INTERNAL)] == [
        "Ivan Petrov claimed the ticket."
    ]
    assert _notifications(alice) == [
        ("ticket.status_changed", f"{ticket.reference} is now “In progress”: Laptop screen cracked")
    ]


def test_claiming_twice_changes_nothing_the_second_time(ivan, ticket):
    staff_services.ticket_claim(ticket_id=ticket.pk, user=ivan)
    staff_services.ticket_claim(ticket_id=ticket.pk, user=ivan)
    assert WorkLog.objects.count() == 1
    assert StatusChange.objects.filter(ticket=ticket).count() == 1
    assert Comment.objects.count() == 1


def test_reassigning_ends_the_first_persons_handling_and_starts_the_seconds(ivan, judy, ticket):
    staff_services.ticket_claim(ticket_id=ticket.pk, user=ivan)
    staff_services.ticket_assign(ticket_id=ticket.pk, assignee=judy, actor=ivan)
    assert Ticket.objects.get(pk=ticket.pk).assignee == judy
    spans = [(log.user.username, log.ended_at is None) for log in WorkLog.objects.order_by("id")]
    assert spans == [("ivan", False), ("judy", True)]
    assert Comment.objects.order_by("id").last().body == "Ivan Petrov assigned it to Judy Singh."


def test_assigning_to_someone_outside_the_service_desk_is_refused_and_changes_nothing(ivan, alice, ticket):
    with pytest.raises(TicketError, match=r"Alice Chen is not on the service desk\."):
        staff_services.ticket_assign(ticket_id=ticket.pk, assignee=alice, actor=ivan)
    ticket.refresh_from_db()
    assert (ticket.assignee, ticket.status) == (None, TicketStatus.ESCALATED)
    assert (WorkLog.objects.count(), Comment.objects.count(), Notification.objects.count()) == (0, 0, 0)


def test_public_reply_is_the_first_response_and_notifies_by_email(
    ivan, alice, ticket, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        comment = staff_services.staff_comment_add(
            ticket_id=ticket.pk, author=ivan, body="  Bring it to the IT desk.  ", internal=False, minutes=15
        )
    ticket.refresh_from_db()
    assert (comment.body, comment.visibility, comment.author_kind) == (
        "Bring it to the IT desk.",
        Visibility.PUBLIC,
        AuthorKind.STAFF,
    )
    assert ticket.first_response_at is not None
    assert _notifications(alice) == [
        ("ticket.replied", f"Ivan Petrov replied on {ticket.reference}: Laptop screen cracked")
    ]
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["alice@example.com"], f"Ivan Petrov replied on {ticket.reference}: Laptop screen cracked")
    ]
    log = WorkLog.objects.get()
    assert (log.kind, log.seconds, log.comment) == (WorkKind.LOGGED, 900, comment)
    assert ticket.handling_seconds == 900


def test_internal_note_never_reaches_the_employee(
    ivan, alice, alice_client, ticket, api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        staff_services.staff_comment_add(
            ticket_id=ticket.pk, author=ivan, body="Serial 5CD1234, spare on shelf B", internal=True
        )
        staff_services.staff_comment_add(ticket_id=ticket.pk, author=ivan, body="On my way.", internal=False)
    page = alice_client.get(
        reverse("servicedesk:ticket_detail", kwargs={"ticket_id": ticket.pk})
    ).content.decode()
    assert "On my way." in page
    assert "5CD1234" not in page
    comments = api.get(f"/api/tickets/{ticket.pk}/comments/").json()["results"]
    assert [c["body"] for c in comments] == ["On my way."]
    assert [code for code, _ in _notifications(alice)] == ["ticket.replied"]
    assert len(mail.outbox) == 1
    assert "5CD1234" not in mail.outbox[0].body
    assert Ticket.objects.get(pk=ticket.pk).first_response_at is not None  # from the reply, not the note


def test_note_alone_is_not_a_first_response(ivan, ticket):
    staff_services.staff_comment_add(ticket_id=ticket.pk, author=ivan, body="Looking", internal=True)
    assert Ticket.objects.get(pk=ticket.pk).first_response_at is None
    assert Notification.objects.count() == 0


def test_closed_ticket_takes_internal_notes_only(ivan, alice):
    closed = TicketFactory(requester=alice, status=TicketStatus.CLOSED, queue=Queue.objects.team("general"))
    with pytest.raises(TicketError, match="closed"):
        staff_services.staff_comment_add(ticket_id=closed.pk, author=ivan, body="Hello?", internal=False)
    assert Comment.objects.count() == 0
    staff_services.staff_comment_add(ticket_id=closed.pk, author=ivan, body="For the record", internal=True)
    assert Comment.objects.get().visibility == Visibility.INTERNAL


def test_priority_change_is_noted_for_staff(ivan, ticket):
    staff_services.ticket_priority_set(ticket_id=ticket.pk, priority=Priority.URGENT, actor=ivan)
    assert Ticket.objects.get(pk=ticket.pk).priority == Priority.URGENT
    assert Comment.objects.get().body == "Ivan Petrov changed the priority from Normal to Urgent."
    assert Notification.objects.count() == 0


def test_asking_the_requester_brings_their_answer_back_to_the_assignee(ivan, alice, ticket):
    staff_services.ticket_status_set(ticket_id=ticket.pk, status=TicketStatus.AWAITING_REQUESTER, actor=ivan)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee) == (TicketStatus.AWAITING_REQUESTER, ivan)
    services.comment_add_reply(ticket=ticket, author=alice, body="It's a T14.")
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee) == (TicketStatus.IN_PROGRESS, ivan)


def test_back_to_the_queue_unassigns_and_ends_handling(ivan, ticket):
    staff_services.ticket_claim(ticket_id=ticket.pk, user=ivan)
    staff_services.ticket_status_set(ticket_id=ticket.pk, status=TicketStatus.ESCALATED, actor=ivan)
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee) == (TicketStatus.ESCALATED, None)
    assert WorkLog.objects.get().ended_at is not None


def test_status_outside_the_staff_menu_is_refused(ivan, ticket):
    with pytest.raises(TicketError, match="Use Resolve or Reopen"):
        staff_services.ticket_status_set(ticket_id=ticket.pk, status=TicketStatus.CLOSED, actor=ivan)
    assert Ticket.objects.get(pk=ticket.pk).status == TicketStatus.ESCALATED


def test_resolve_with_a_message_ends_handling_and_tells_the_requester(ivan, alice, ticket):
    staff_services.ticket_claim(ticket_id=ticket.pk, user=ivan)
    WorkLog.objects.update(started_at=timezone.now() - timedelta(minutes=42))
    staff_services.ticket_resolve(ticket_id=ticket.pk, actor=ivan, message="Swapped the screen.")
    ticket.refresh_from_db()
    assert (ticket.status, ticket.resolver_kind, ticket.assignee) == (
        TicketStatus.RESOLVED,
        ResolverKind.STAFF,
        ivan,
    )
    assert ticket.resolved_at is not None
    assert 42 * 60 <= ticket.handling_seconds < 43 * 60
    assert Comment.objects.filter(visibility=Visibility.PUBLIC).get().body == "Swapped the screen."
    assert [code for code, _ in _notifications(alice)] == [
        "ticket.status_changed",
        "ticket.replied",
        "ticket.status_changed",
    ]
    assert (
        _notifications(alice)[-1][1]
        == f"{ticket.reference} is now “Resolved” (Ivan Petrov): Laptop screen cracked"
    )


def test_a_claimed_span_counts_at_most_eight_hours(ivan, ticket):
    staff_services.ticket_claim(ticket_id=ticket.pk, user=ivan)
    WorkLog.objects.update(started_at=timezone.now() - timedelta(days=3))
    staff_services.ticket_resolve(ticket_id=ticket.pk, actor=ivan)
    assert Ticket.objects.get(pk=ticket.pk).handling_seconds == 8 * 3600


def test_resolving_a_closed_ticket_is_refused(ivan, alice):
    closed = TicketFactory(requester=alice, status=TicketStatus.CLOSED)
    with pytest.raises(TicketError, match="closed cannot be resolved"):
        staff_services.ticket_resolve(ticket_id=closed.pk, actor=ivan)
    assert Ticket.objects.get(pk=closed.pk).status == TicketStatus.CLOSED


def test_staff_reopen_needs_a_reason_and_a_resolved_ticket(ivan, alice, ticket):
    with pytest.raises(TicketError, match="Only a resolved ticket"):
        staff_services.ticket_reopen_by_staff(ticket_id=ticket.pk, actor=ivan, reason="x")
    staff_services.ticket_resolve(ticket_id=ticket.pk, actor=ivan)
    staff_services.ticket_reopen_by_staff(ticket_id=ticket.pk, actor=ivan, reason="Flickers again")
    ticket.refresh_from_db()
    assert (ticket.status, ticket.reopened_count, ticket.resolved_at, ticket.queue.slug) == (
        TicketStatus.REOPENED,
        1,
        None,
        "hardware",
    )
    assert Comment.objects.order_by("id").last().body == "Ivan Petrov reopened the ticket: Flickers again"


def test_move_is_a_routing_correction_and_hands_the_ticket_to_the_other_team(ivan, ticket):
    staff_services.ticket_claim(ticket_id=ticket.pk, user=ivan)
    staff_services.ticket_move(
        ticket_id=ticket.pk, queue_slug="network", actor=ivan, note="It's the dock's NIC"
    )
    ticket.refresh_from_db()
    assert (ticket.queue.slug, ticket.assignee, ticket.status) == ("network", None, TicketStatus.ESCALATED)
    move = RoutingChange.objects.get()
    assert (move.from_queue.slug, move.to_queue.slug, move.actor, move.note) == (
        "hardware",
        "network",
        ivan,
        "It's the dock's NIC",
    )
    assert WorkLog.objects.get().ended_at is not None


def test_moving_to_the_same_or_an_unknown_queue_is_refused_without_a_record(ivan, ticket):
    with pytest.raises(TicketError, match="already in Hardware"):
        staff_services.ticket_move(ticket_id=ticket.pk, queue_slug="hardware", actor=ivan)
    with pytest.raises(TicketError, match="no queue 'printers'"):
        staff_services.ticket_move(ticket_id=ticket.pk, queue_slug="printers", actor=ivan)
    assert RoutingChange.objects.count() == 0
    assert Ticket.objects.get(pk=ticket.pk).queue.slug == "hardware"


# ---------------------------------------------------------------------------------------------
# Through the pages


def test_reply_form_posts_a_public_reply_and_a_note(ivan_client, ticket):
    url = reverse("staff:comment", kwargs={"ticket_id": ticket.pk})
    response = ivan_client.post(url, {"body": "Hello Alice", "visibility": "public", "minutes": ""})
    assert response.url == reverse("staff:ticket", kwargs={"ticket_id": ticket.pk})
    ivan_client.post(url, {"body": "Team only", "visibility": "internal", "minutes": "5"})
    assert list(Comment.objects.order_by("id").values_list("body", "visibility")) == [
        ("Hello Alice", Visibility.PUBLIC),
        ("Team only", Visibility.INTERNAL),
    ]


def test_empty_reply_is_explained_and_saves_nothing(ivan_client, ticket):
    response = ivan_client.post(
        reverse("staff:comment", kwargs={"ticket_id": ticket.pk}),
        {"body": "", "visibility": "public"},
        follow=True,
    )
    assert "Please write a reply or a note." in response.content.decode()
    assert Comment.objects.count() == 0


def test_action_on_a_state_that_forbids_it_shows_the_reason(ivan_client, alice):
    closed = TicketFactory(requester=alice, status=TicketStatus.CLOSED)
    response = ivan_client.post(reverse("staff:claim", kwargs={"ticket_id": closed.pk}), follow=True)
    assert "A ticket that is closed cannot be assigned." in response.content.decode()


def test_workspace_shows_requester_timeline_and_the_agent_panel(ivan_client, ivan, alice, ticket):
    manager = UserFactory(username="frank", first_name="Frank", last_name="Moreau")
    ProfileFactory(user=alice, department="Finance", title="Analyst", manager=manager)
    AgentRun.objects.create(
        ticket=ticket,
        router={
            "queue": "hardware",
            "out_of_scope": 0.81,
            "candidates": [{"action": "reset_password", "score": 0.2}],
        },
        proposal={"action": None, "params": {}, "confidence": 0.74, "summary": "A cracked laptop screen"},
        outcome="escalate",
        rule_ids=["no_action"],
        reason="no catalog action applies",
    )
    staff_services.staff_comment_add(ticket_id=ticket.pk, author=ivan, body="Spare on shelf B", internal=True)
    page = ivan_client.get(reverse("staff:ticket", kwargs={"ticket_id": ticket.pk})).content.decode()
    for text in (
        "Laptop screen cracked",
        "Finance",
        "Frank Moreau",
        "A cracked laptop screen",
        "No catalog action",
        '0.81 <span class="muted small">(router score: no catalog action fits)',
        "No catalog action applies; a human handles the request.",
        "reset_password 0.20",
        "Spare on shelf B",
        "Internal note",
        "Hi Alice,",  # the drafted reply
    ):
        assert text in page, text


def test_workspace_without_an_agent_run_says_so(ivan_client, ticket):
    page = ivan_client.get(reverse("staff:ticket", kwargs={"ticket_id": ticket.pk})).content.decode()
    assert "The agent did not handle this ticket" in page
    assert "Was the agent right?" not in page


def test_agent_runs_with_unexpected_shapes_still_render(ivan_client, ticket):
    AgentRun.objects.create(
        ticket=ticket, router=["not", "a", "dict"], proposal={"confidence": "high", "params": 3}
    )
    response = ivan_client.get(reverse("staff:ticket", kwargs={"ticket_id": ticket.pk}))
    assert response.status_code == 200
    assert "Not recorded" in response.content.decode()


def test_workspace_query_count_does_not_grow_with_the_timeline(
    ivan_client, ivan, ticket, django_assert_num_queries
):
    url = reverse("staff:ticket", kwargs={"ticket_id": ticket.pk})
    staff_services.staff_comment_add(ticket_id=ticket.pk, author=ivan, body="first", internal=True)
    ivan_client.get(url)  # the view record exists from here on
    with django_assert_num_queries(21) as few:
        ivan_client.get(url)
    for n in range(15):
        staff_services.staff_comment_add(
            ticket_id=ticket.pk, author=ivan, body=f"note {n}", internal=n % 2 == 0
        )
    staff_services.ticket_claim(ticket_id=ticket.pk, user=ivan)
    with django_assert_num_queries(len(few.captured_queries)):
        ivan_client.get(url)


def test_canned_reply_fills_the_composer_with_placeholders(ivan_client, ticket):
    reply = CannedReply.objects.create(
        title="Desk visit",
        body="Hi {requester_first_name}, bring {ticket_reference} to the desk. {staff_first_name}",
    )
    CannedReply.objects.create(title="Network only", body="x", queue=Queue.objects.team("network"))
    CannedReply.objects.create(title="Retired", body="y", is_active=False)
    url = reverse("staff:ticket", kwargs={"ticket_id": ticket.pk})
    page = ivan_client.get(f"{url}?canned={reply.pk}").content.decode()
    assert f"Hi Alice, bring {ticket.reference} to the desk. Ivan</textarea>" in page
    assert "Network only" not in page
    assert "Retired" not in page


def test_staff_hours_count_logged_minutes_per_ticket(ivan, ticket):
    staff_services.ticket_claim(ticket_id=ticket.pk, user=ivan)
    staff_services.staff_comment_add(
        ticket_id=ticket.pk, author=ivan, body="Done", internal=False, minutes=30
    )
    staff_services.ticket_resolve(ticket_id=ticket.pk, actor=ivan)
    metrics = workspace_metrics(days=7)
    assert (metrics.staff_hours, metrics.logged_hours, metrics.resolved_by_staff) == (0.5, 0.5, 1)
    assert [(row.user, row.resolved, row.logged_hours) for row in metrics.staff] == [(ivan, 1, 0.5)]
