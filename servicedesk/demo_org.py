"""The demo organisation of shared/DEMO_ORG.md, which the embedded default ships."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from servicedesk.models import Profile, Role


@dataclass(frozen=True)
class Person:
    username: str
    first_name: str
    last_name: str
    department: str
    title: str
    manager: str | None
    roles: tuple[Role, ...] = (Role.EMPLOYEE,)
    protected: bool = False


E, S, L, M = Role.EMPLOYEE, Role.SERVICE_DESK, Role.SERVICE_DESK_LEAD, Role.MANAGER

PEOPLE = [
    Person("alice", "Alice", "Chen", "Finance", "Employee", "frank"),
    Person("bob", "Bob", "Okafor", "Engineering", "Employee", "erin"),
    Person("carol", "Carol", "Diaz", "Sales", "Employee", "gwen"),
    Person("dave", "Dave", "Kim", "Engineering", "Employee", "erin"),
    Person("erin", "Erin", "Walsh", "Engineering", "Manager", "henry", (E, M)),
    Person("frank", "Frank", "Moreau", "Finance", "Manager", "henry", (E, M)),
    Person("gwen", "Gwen", "Park", "Sales", "Manager", "henry", (E, M)),
    Person("henry", "Henry", "Adams", "Executive", "CFO", None, (E, M), protected=True),
    Person("ivan", "Ivan", "Petrov", "IT", "Service-desk staff", "judy", (E, S)),
    Person("judy", "Judy", "Singh", "IT", "Service-desk lead", "henry", (E, S, L, M)),
]


@transaction.atomic
def demo_org_load(*, password: str) -> list[str]:
    """Create or update the demo people and roles. Idempotent: passwords are set only on creation."""
    User = get_user_model()
    groups = {role: Group.objects.get_or_create(name=role.value)[0] for role in Role}
    created = []
    for person in PEOPLE:
        user, was_created = User.objects.update_or_create(
            username=person.username,
            defaults={
                "first_name": person.first_name,
                "last_name": person.last_name,
                "email": f"{person.username}@example.com",
                # Staff and managers may open the admin (dashboards, audit); employees may not.
                "is_staff": S in person.roles or M in person.roles,
            },
        )
        if was_created:
            user.set_password(password)
            user.save(update_fields=["password"])
            created.append(person.username)
        user.groups.set([groups[role] for role in person.roles])
    for person in PEOPLE:
        manager = User.objects.get(username=person.manager) if person.manager else None
        Profile.objects.update_or_create(
            user=User.objects.get(username=person.username),
            defaults={
                "department": person.department,
                "title": person.title,
                "manager": manager,
                "is_protected": person.protected,
            },
        )
    return created
