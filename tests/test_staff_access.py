"""Every staff page refuses employees and managers (403) and sends anonymous users to the login page;
a refused action changes nothing."""

import pytest
from django.urls import reverse

from core.models import AuditEvent
from servicedesk.models import Comment, Queue, Role, StatusChange, Ticket, TicketStatus
from tests.factories import TicketFactory, UserFactory

pytestmark = pytest.mark.django_db

PAGES = [
    ("staff:home", {}),
    ("staff:queue", {"slug": "hardware"}),
    ("staff:ticket", {"ticket_id": 1}),
    ("staff:metrics", {}),
    ("staff:corrections_export", {}),
]
ACTIONS = [
    "claim",
    "assign",
    "comment",
    "priority",
    "status",
    "resolve",
    "reopen",
    "move",
    "action",
    "correction",
]
EVERY_URL = [*PAGES, *[(f"staff:{name}", {"ticket_id": 1}) for name in ACTIONS]]


@pytest.fixture
def ticket(db):
    return TicketFactory(pk=1, status=TicketStatus.ESCALATED, queue=Queue.objects.team("hardware"))


@pytest.mark.parametrize("name,kwargs", EVERY_URL)
def test_anonymous_users_are_sent_to_login(client, ticket, name, kwargs):
    url = reverse(name, kwargs=kwargs)
    response = client.post(url) if name.split(":")[1] in ACTIONS else client.get(url)
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize(
    "roles", [(Role.EMPLOYEE,), (Role.EMPLOYEE, Role.MANAGER)], ids=["employee", "manager"]
)
@pytest.mark.parametrize("name,kwargs", EVERY_URL)
def test_employees_and_managers_get_403(client, ticket, roles, name, kwargs):
    client.force_login(UserFactory(username="someone", roles=roles))
    url = reverse(name, kwargs=kwargs)
    response = (
        client.post(url, {"body": "x", "visibility": "public"})
        if name.split(":")[1] in ACTIONS
        else client.get(url)
    )
    assert response.status_code == 403
    assert "Not allowed" in response.content.decode()


def test_refused_claim_and_reply_change_nothing(client, ticket):
    client.force_login(UserFactory(username="mallory"))
    before = (Comment.objects.count(), StatusChange.objects.count(), AuditEvent.objects.count())
    assert client.post(reverse("staff:claim", kwargs={"ticket_id": 1})).status_code == 403
    assert (
        client.post(
            reverse("staff:comment", kwargs={"ticket_id": 1}), {"body": "hi", "visibility": "public"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            reverse("staff:action", kwargs={"ticket_id": 1}), {"action": "unlock_account"}
        ).status_code
        == 403
    )
    ticket = Ticket.objects.get(pk=1)
    assert (ticket.status, ticket.assignee_id, ticket.first_response_at) == (
        TicketStatus.ESCALATED,
        None,
        None,
    )
    assert (Comment.objects.count(), StatusChange.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.parametrize("name,kwargs", PAGES)
def test_service_desk_staff_and_superusers_get_in(client, ticket, name, kwargs):
    for user in (
        UserFactory(username="ivan", roles=[Role.EMPLOYEE, Role.SERVICE_DESK]),
        UserFactory(username="root", is_superuser=True, is_staff=True),
    ):
        client.force_login(user)
        assert client.get(reverse(name, kwargs=kwargs)).status_code == 200


def test_staff_land_on_the_queues_and_employees_on_their_tickets(client, ticket):
    client.force_login(UserFactory(username="ivan", roles=[Role.EMPLOYEE, Role.SERVICE_DESK]))
    assert client.get("/").url == reverse("staff:home")
    client.force_login(UserFactory(username="alice"))
    assert client.get("/").url == reverse("servicedesk:ticket_list")


def test_staff_navigation_shows_queues_only_to_staff(client, ticket):
    client.force_login(UserFactory(username="alice"))
    assert reverse("staff:home") not in client.get(reverse("servicedesk:ticket_list")).content.decode()
    client.force_login(UserFactory(username="ivan", roles=[Role.EMPLOYEE, Role.SERVICE_DESK]))
    assert (
        f'href="{reverse("staff:home")}"' in client.get(reverse("servicedesk:ticket_list")).content.decode()
    )


def test_unknown_queue_and_ticket_are_404_for_staff(client, ticket):
    client.force_login(UserFactory(username="ivan", roles=[Role.EMPLOYEE, Role.SERVICE_DESK]))
    assert client.get(reverse("staff:queue", kwargs={"slug": "nope"})).status_code == 404
    assert client.get(reverse("staff:ticket", kwargs={"ticket_id": 999})).status_code == 404
    assert client.post(reverse("staff:claim", kwargs={"ticket_id": 999})).status_code == 404
