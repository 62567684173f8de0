"""Notifications: in the product, and by email through Django's email backend after commit."""

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from servicedesk.models import Notification, Ticket


def notification_send(
    *, recipient: User, code: str, text: str, ticket: Ticket | None = None, url: str = ""
) -> None:
    """Tell someone in the product, and by email through Django's email backend after commit."""
    Notification.objects.create(recipient=recipient, ticket=ticket, code=code, text=text[:300], url=url)
    if recipient.email:

        def send() -> None:
            send_mail(
                subject=text[:120],
                message=f"{text}\n\n{settings.SITE_URL}{url}",
                from_email=None,
                recipient_list=[recipient.email],
            )

        transaction.on_commit(send, robust=True)


@transaction.atomic
def notifications_mark_read(*, recipient: User, notification_id: int | None = None) -> int:
    """Mark one of the recipient's notifications read, or all of them; returns how many changed."""
    unread = Notification.objects.filter(recipient=recipient, read_at__isnull=True)
    if notification_id is not None:
        unread = unread.filter(pk=notification_id)
    return unread.update(read_at=timezone.now())
