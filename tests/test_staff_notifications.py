"""Employees are told of staff replies and status changes in the product (a notifications list with an
unread count in the navigation) and by email; following a notification marks it read."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from servicedesk.models import Notification, Queue, Role, Ticket, TicketStatus
from tests.factories import TicketFactory, UserFactory
from workspace import services as staff_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(alice):
    return TicketFactory(
        requester=alice,
        subject="Monitor flickers",
        status=TicketStatus.ESCALATED,
        queue=Queue.objects.team("hardware"),
    )


@pytest.fixture
def ivan(db):
    return UserFactory(username="ivan", first_name="Ivan", last_name="Petrov", roles=[Role.SERVICE_DESK])


def test_notifications_page_lists_mine_newest_first_with_the_unread_count(
    alice_client, alice, bob, ivan, ticket
):
    staff_services.ticket_claim(ticket_id=ticket.pk, user=ivan)
    staff_services.staff_comment_add(ticket_id=ticket.pk, author=ivan, body="Swapping it", internal=False)
    Notification.objects.create(recipient=bob, code="x", text="For Bob only")
    page = alice_client.get(reverse("servicedesk:notifications")).content.decode()
    first = page.index(f"Ivan Petrov replied on {ticket.reference}: Monitor flickers")
    second = page.index(f"{ticket.reference} is now “In progress”: Monitor flickers")
    assert first < second
    assert "For Bob only" not in page
    assert '<span class="nav-count">2</span>' in page


def test_following_a_notification_marks_it_read_and_opens_the_ticket(alice_client, alice, ivan, ticket):
    staff_services.staff_comment_add(ticket_id=ticket.pk, author=ivan, body="Hi", internal=False)
    item = Notification.objects.get(recipient=alice)
    response = alice_client.get(reverse("servicedesk:notification_open", kwargs={"notification_id": item.pk}))
    assert response.url == reverse("servicedesk:ticket_detail", kwargs={"ticket_id": ticket.pk})
    assert Notification.objects.get(pk=item.pk).read_at is not None
    assert 'class="nav-count"' not in alice_client.get(reverse("servicedesk:ticket_list")).content.decode()


def test_someone_elses_notification_is_404_and_stays_unread(alice_client, bob):
    item = Notification.objects.create(recipient=bob, code="x", text="Bob's", url="/tickets/1/")
    response = alice_client.get(reverse("servicedesk:notification_open", kwargs={"notification_id": item.pk}))
    assert response.status_code == 404
    assert Notification.objects.get(pk=item.pk).read_at is None


def test_mark_all_read_touches_only_mine(alice_client, alice, bob):
    Notification.objects.create(recipient=alice, code="x", text="one")
    Notification.objects.create(recipient=alice, code="x", text="two")
    Notification.objects.create(recipient=bob, code="x", text="bob's")
    response = alice_client.post(reverse("servicedesk:notifications"))
    assert response.url == reverse("servicedesk:notifications")
    assert list(Notification.objects.filter(read_at__isnull=True).values_list("text", flat=True)) == ["bob's"]


def test_notifications_need_a_login(client):
    response = client.get(reverse("servicedesk:notifications"))
    assert response.url.startswith(reverse("login"))


def test_staff_status_changes_are_emailed(
    alice, ivan, ticket, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        staff_services.ticket_claim(ticket_id=ticket.pk, user=ivan)
        staff_services.ticket_resolve(ticket_id=ticket.pk, actor=ivan)
    assert [m.subject for m in mailoutbox] == [
        f"{ticket.reference} is now “In progress”: Monitor flickers",
        f"{ticket.reference} is now “Resolved” (Ivan Petrov): Monitor flickers",
    ]
    assert all(m.to == ["alice@example.com"] for m in mailoutbox)


def test_bench_command_times_the_pages_and_keeps_nothing(db):
    before = (Ticket.objects.count(), Notification.objects.count())
    out = StringIO()
    call_command("bench_queue", "--tickets", "60", "--repeat", "1", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "seeded 60 open tickets" + lines[0].removeprefix("seeded 60 open tickets")
    assert [line.split(" median")[0].strip() for line in lines[1:-1]] == [
        "all queues, page 1 (SLA)",
        "Hardware, page 1 (SLA)",
        "Hardware, unassigned",
        "Hardware, mine",
        "Hardware, oldest first",
        "Hardware, 100 a page",
        "Hardware, page 40",
        "all queues, search 'printer'",
    ]
    assert all(" ms   p95 " in line and " queries " in line for line in lines[1:-1])
    assert lines[-1] == "rolled back: nothing was kept"
    assert (Ticket.objects.count(), Notification.objects.count()) == before
    assert not Ticket.objects.filter(requester__username__startswith="bench-").exists()
