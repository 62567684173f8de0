import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from servicedesk.models import Profile
from servicedesk.roles import is_manager, is_service_desk

pytestmark = pytest.mark.django_db


def test_demo_org_loads_people_roles_and_managers():
    call_command("load_demo_org")
    User = get_user_model()
    assert User.objects.count() == 10
    alice = User.objects.get(username="alice")
    assert (alice.profile.department, alice.profile.manager.username) == ("Finance", "frank")
    assert not is_service_desk(alice) and not is_manager(alice) and not alice.is_staff
    ivan, judy = User.objects.get(username="ivan"), User.objects.get(username="judy")
    assert is_service_desk(ivan) and not is_manager(ivan)
    assert is_service_desk(judy) and is_manager(judy)
    assert list(Profile.objects.filter(is_protected=True).values_list("user__username", flat=True)) == [
        "henry"
    ]
    assert alice.check_password("demo")


def test_demo_org_is_idempotent_and_keeps_changed_passwords():
    call_command("load_demo_org")
    alice = get_user_model().objects.get(username="alice")
    alice.set_password("changed-by-alice")
    alice.save()
    call_command("load_demo_org")
    assert get_user_model().objects.count() == 10
    assert Profile.objects.count() == 10
    alice.refresh_from_db()
    assert alice.check_password("changed-by-alice")
    assert alice.groups.count() == 1
