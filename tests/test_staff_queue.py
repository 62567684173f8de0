"""Queue pages: per-queue lists with counts, unassigned / mine / all, search, sorting by age and SLA,
"new since you looked" markers, and a query count that does not grow with the page size."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from servicedesk.models import Comment, Priority, Queue, Role, Ticket, TicketStatus, TicketView
from tests.factories import TicketFactory, UserFactory
from workspace import services as staff_services
from workspace.selectors import QueueFilter, queue_counts, queue_tickets

pytestmark = pytest.mark.django_db


@pytest.fixture
def ivan(db):
    return UserFactory(username="ivan", first_name="Ivan", roles=[Role.EMPLOYEE, Role.SERVICE_DESK])


@pytest.fixture
def ivan_client(client, ivan):
    client.force_login(ivan)
    return client


def _ticket(
    subject, *, queue="hardware", hours=1, priority=Priority.NORMAL, status=TicketStatus.ESCALATED, **kw
):
    ticket = TicketFactory(
        subject=subject, status=status, priority=priority, queue=Queue.objects.team(queue), **kw
    )
    Ticket.objects.filter(pk=ticket.pk).update(created_at=timezone.now() - timedelta(hours=hours))
    return ticket


def _subjects(user, queue_slug=None, **filters):
    queue = Queue.objects.team(queue_slug) if queue_slug else None
    return [t.subject for t in queue_tickets(user=user, queue=queue, filters=QueueFilter(**filters))]


def test_a_queue_lists_its_own_open_tickets_most_urgent_sla_first(ivan):
    _ticket("Monitor flickers", hours=1)  # normal: first response due in 3 h
    _ticket("Printer jam", hours=7, priority=Priority.LOW)  # low: due in 1 h
    _ticket("Dock dead", hours=1, priority=Priority.URGENT)  # urgent: 30 min overdue
    _ticket("VPN drops", queue="network")
    _ticket("Old mouse", status=TicketStatus.RESOLVED)
    assert _subjects(ivan, "hardware") == ["Dock dead", "Printer jam", "Monitor flickers"]


def test_sorting_by_age_and_priority(ivan):
    _ticket("Middle", hours=5)
    _ticket("Newest", hours=1, priority=Priority.HIGH)
    _ticket("Oldest", hours=9, priority=Priority.LOW)
    assert _subjects(ivan, "hardware", sort="oldest") == ["Oldest", "Middle", "Newest"]
    assert _subjects(ivan, "hardware", sort="newest") == ["Newest", "Middle", "Oldest"]
    assert _subjects(ivan, "hardware", sort="priority") == ["Newest", "Middle", "Oldest"]


def test_unassigned_mine_and_all(ivan):
    judy = UserFactory(username="judy", roles=[Role.SERVICE_DESK])
    _ticket("Nobody's")
    _ticket("Ivan's", assignee=ivan, status=TicketStatus.IN_PROGRESS)
    _ticket("Judy's", assignee=judy, status=TicketStatus.IN_PROGRESS)
    assert _subjects(ivan, "hardware", scope="unassigned") == ["Nobody's"]
    assert _subjects(ivan, "hardware", scope="mine") == ["Ivan's"]
    assert sorted(_subjects(ivan, "hardware", scope="all")) == ["Ivan's", "Judy's", "Nobody's"]


def test_waiting_and_resolved_views(ivan):
    _ticket("Open one")
    _ticket("Asked the requester", status=TicketStatus.AWAITING_REQUESTER, assignee=ivan)
    _ticket("Done", status=TicketStatus.RESOLVED)
    _ticket("Closed", status=TicketStatus.CLOSED)
    assert _subjects(ivan, "hardware", state="waiting") == ["Asked the requester"]
    assert sorted(_subjects(ivan, "hardware", state="done")) == ["Closed", "Done"]
    assert sorted(_subjects(ivan, "hardware")) == ["Asked the requester", "Open one"]


def test_search_looks_in_subject_text_and_reference(ivan):
    flicker = _ticket("Screen flickers", description="The external monitor")
    _ticket("Keyboard", description="Keys stick after a coffee; the MONITOR is fine")
    _ticket("Mouse", description="Scroll wheel")
    assert sorted(_subjects(ivan, "hardware", q="monitor")) == ["Keyboard", "Screen flickers"]
    assert _subjects(ivan, "hardware", q="flick") == ["Screen flickers"]
    assert _subjects(ivan, "hardware", q=flicker.reference) == ["Screen flickers"]
    assert _subjects(ivan, "hardware", q=str(flicker.pk)) == ["Screen flickers"]
    assert _subjects(ivan, "hardware", q="nothing like it") == []


def test_counts_per_queue(ivan):
    _ticket("a")
    _ticket("b", assignee=ivan, status=TicketStatus.IN_PROGRESS)
    _ticket("c", priority=Priority.URGENT, hours=2)  # past its SLA
    _ticket("d", queue="network")
    _ticket("e", status=TicketStatus.RESOLVED)
    counts = queue_counts(user=ivan)
    hardware, network = Queue.objects.team("hardware"), Queue.objects.team("network")
    assert vars(counts[hardware.pk]) == {"open": 3, "unassigned": 2, "mine": 1, "breached": 1}
    assert vars(counts[network.pk]) == {"open": 1, "unassigned": 1, "mine": 0, "breached": 0}
    assert set(counts) == {hardware.pk, network.pk}


def test_new_and_updated_since_you_looked(ivan, ivan_client):
    seen = _ticket("Seen")
    changed = _ticket("Changed since")
    _ticket("Never opened")
    ivan_client.get(reverse("staff:ticket", kwargs={"ticket_id": seen.pk}))
    ivan_client.get(reverse("staff:ticket", kwargs={"ticket_id": changed.pk}))
    TicketView.objects.update(seen_at=timezone.now() - timedelta(minutes=5))
    Ticket.objects.filter(pk=seen.pk).update(updated_at=timezone.now() - timedelta(minutes=10))
    Ticket.objects.filter(pk=changed.pk).update(updated_at=timezone.now())
    page = ivan_client.get(reverse("staff:queue", kwargs={"slug": "hardware"})).content.decode()
    rows = {
        m[1]: m[0]
        for m in re.findall(r'<tr class="(is-\w+)?[^"]*">.*?class="t-subject"[^>]*>([^<]+)<', page, re.S)
    }
    assert rows == {"Seen": "", "Changed since": "is-updated", "Never opened": "is-new"}


def test_requester_reply_is_flagged_in_the_list(ivan, ivan_client, alice):
    ticket = _ticket("Printer jam", requester=alice)
    Comment.objects.create(ticket=ticket, author=alice, author_kind="requester", body="Still jams")
    page = ivan_client.get(reverse("staff:queue", kwargs={"slug": "hardware"})).content.decode()
    assert "Requester replied" in page


def test_queue_page_shows_counts_and_sla(ivan_client):
    _ticket("Dock dead", hours=2, priority=Priority.URGENT)
    _ticket("Monitor flickers", hours=1)
    page = ivan_client.get(reverse("staff:queue", kwargs={"slug": "hardware"})).content.decode()
    assert '<span class="stat-n">2</span><span class="stat-l">open</span>' in page
    assert "Breached 1h 30m ago" in page
    assert "2h 59m left" in page or "3h left" in page


def test_pages_of_a_large_queue(ivan_client):
    for n in range(30):
        _ticket(f"Ticket {n:02d}", hours=n)
    first = ivan_client.get(
        reverse("staff:queue", kwargs={"slug": "hardware"}) + "?sort=newest"
    ).content.decode()
    assert "1\u201325 of 30" in first
    assert "Ticket 00" in first and "Ticket 25" not in first
    second = ivan_client.get(reverse("staff:queue", kwargs={"slug": "hardware"}) + "?sort=newest&page=2")
    assert "26\u201330 of 30" in second.content.decode()
    assert "Ticket 29" in second.content.decode()


def _queue_queries(ivan_client, django_assert_num_queries, per_page):
    url = reverse("staff:queue", kwargs={"slug": "hardware"}) + f"?per_page={per_page}&scope=all"
    # session, user, roles with the unread count, queue counts, queues, page count, page rows
    # (requester, profile, assignee, queue, SLA due, seen marker, last reply all joined or annotated),
    # approvals waiting for the navigation.
    with django_assert_num_queries(8) as context:
        response = ivan_client.get(url)
    assert response.status_code == 200
    return len(context.captured_queries)


def test_queue_query_count_does_not_grow_with_the_page_size(ivan, ivan_client, django_assert_num_queries):
    requesters = [UserFactory(username=f"req{n}") for n in range(3)]
    for n in range(3):
        _ticket(f"small {n}", requester=requesters[n], assignee=ivan if n == 0 else None)
    small = _queue_queries(ivan_client, django_assert_num_queries, 25)
    for n in range(97):
        ticket = _ticket(f"large {n}", requester=UserFactory(username=f"r{n}"))
        Comment.objects.create(ticket=ticket, author_kind="requester", body="more")
        if n % 3 == 0:
            staff_services.ticket_view_record(ticket_id=ticket.pk, user=ivan)
    assert _queue_queries(ivan_client, django_assert_num_queries, 100) == small


def test_all_queues_page_and_filters_keep_the_same_query_count(ivan_client, django_assert_num_queries):
    for n in range(5):
        _ticket(f"t{n}", queue=["hardware", "network", "software", "general", "accounts-access"][n])
    for url in (
        reverse("staff:home"),
        reverse("staff:home") + "?scope=unassigned&q=t&sort=oldest&state=open",
    ):
        with django_assert_num_queries(8):
            assert ivan_client.get(url).status_code == 200


def test_bad_filter_values_fall_back_to_the_defaults(ivan_client):
    _ticket("Visible")
    response = ivan_client.get(
        reverse("staff:home") + "?scope=everyone&sort=random&state=x&per_page=7&page=abc"
    )
    assert response.status_code == 200
    assert "Visible" in response.content.decode()
