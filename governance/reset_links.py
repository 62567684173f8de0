"""One-time password-reset links: issued by the executor, completed by the requester."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core.audit import audit_record
from governance.directory import get_connector
from governance.directory.base import (
    DirectoryConnector,
)
from governance.models import (
    ResetToken,
)


def reset_link_issue(connector: DirectoryConnector, username: str, execution_key: str) -> str:
    """One link per execution: a re-run finds the link it already sent instead of sending another."""
    email = connector.registered_email(username)
    if ResetToken.objects.filter(execution_key=execution_key).exists():
        return email
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        ResetToken.objects.create(
            username=username,
            token_hash=hashlib.sha256(token.encode()).hexdigest(),
            channel=email,
            execution_key=execution_key,
            expires_at=timezone.now() + timedelta(minutes=settings.RESET_LINK_TTL_MINUTES),
        )
        link = f"{settings.SITE_URL}{reverse('governance:password_reset', kwargs={'token': token})}"
        transaction.on_commit(
            lambda: send_mail(
                subject="Your password-reset link",
                message=f"Use this one-time link to choose a new password (it expires in "
                f"{settings.RESET_LINK_TTL_MINUTES} minutes):\n\n{link}\n\nIf you did not ask for it, "
                "tell the service desk.",
                from_email=None,
                recipient_list=[email],
            )
        )
    return email


def masked_email(email: str) -> str:
    name, _, domain = email.partition("@")
    return f"{name[:1]}***@{domain}" if domain else "***"


class ResetLinkError(Exception):
    """The link is unknown, used or expired. One message for all three: a probe learns nothing."""


def reset_token_lookup(token: str) -> ResetToken | None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return ResetToken.objects.filter(
        token_hash=digest, used_at__isnull=True, expires_at__gt=timezone.now()
    ).first()


def password_reset_complete(*, token: str, new_password: str) -> str:
    """Set the account's new password in the directory; the link then stops working."""
    with transaction.atomic():
        reset = reset_token_lookup(token)
        if reset is None:
            raise ResetLinkError("This link is not valid any more. Ask the service desk for a new one.")
        claimed = ResetToken.objects.filter(pk=reset.pk, used_at__isnull=True).update(used_at=timezone.now())
        if claimed != 1:
            raise ResetLinkError("This link is not valid any more. Ask the service desk for a new one.")
        # The directory call sits inside the transaction: if it fails, the link stays usable.
        get_connector().set_password(reset.username, new_password)
        audit_record(
            code="password.reset_completed",
            actor_kind="user",
            actor_label=reset.username,
            data={"username": reset.username, "channel": masked_email(reset.channel)},
        )
    return reset.username
