"""The embedded default directory: accounts, groups and software live in this project's own database.

It holds the demo organisation, so the agent can act on something real without an external server.
Every write is one conditional update or one get-or-create, so each call is idempotent and safe under
concurrent workers without holding locks.
"""

from django.db.models import QuerySet
from django.utils import timezone

from governance.directory.base import AccountState, DirectoryError
from governance.models import (
    DirectoryAccount,
    DirectoryGroup,
    DirectoryMembership,
    Software,
    SoftwareAssignment,
)


class BuiltinDirectory:
    """The ``DirectoryConnector`` over the models in ``governance.models``."""

    name = "builtin"

    def read_state(self, username: str) -> AccountState:
        """An unknown user is a state (``exists=False``), not an error: the executor records it as-is."""
        account = DirectoryAccount.objects.filter(username=username).first()
        if account is None:
            return AccountState(username=username, exists=False)
        groups = DirectoryMembership.objects.filter(account=account).values_list("group__name", flat=True)
        software = SoftwareAssignment.objects.filter(account=account).values_list("software__name", flat=True)
        changed_at = account.password_changed_at
        return AccountState(
            username=username,
            exists=True,
            locked=account.locked,
            mfa_reset_pending=account.mfa_reset_pending,
            groups=frozenset(groups),
            software=frozenset(software),
            password_changed_at=changed_at.isoformat() if changed_at else None,
        )

    def unlock_account(self, username: str) -> None:
        self._update(username, locked=False)

    def reset_mfa(self, username: str) -> None:
        """The user enrols again at next sign-in; until then the old factor no longer counts."""
        self._update(username, mfa_reset_pending=True, mfa_enrolled=False)

    def add_to_group(self, username: str, group: str) -> None:
        account = self._account(username)
        directory_group = DirectoryGroup.objects.filter(name=group).first()
        if directory_group is None:
            raise DirectoryError(f"no directory group named {group!r}")
        # get_or_create retries the read after an IntegrityError, so a concurrent add is not an error.
        DirectoryMembership.objects.get_or_create(account=account, group=directory_group)

    def assign_software(self, username: str, software: str) -> None:
        account = self._account(username)
        package = Software.objects.filter(name=software).first()
        if package is None:
            raise DirectoryError(f"no software named {software!r} in the catalog")
        SoftwareAssignment.objects.get_or_create(account=account, software=package)

    def set_password(self, username: str, new_password: str) -> None:
        """The built-in directory stores no password (sign-in is Django's); it records when the holder
        chose a new one, and clears a lockout, as a directory does after a successful reset."""
        if not new_password:
            raise DirectoryError("a new password is required")
        self._update(username, password_changed_at=timezone.now(), locked=False)

    def registered_email(self, username: str) -> str:
        email = self._account(username).email
        if not email:
            raise DirectoryError(f"directory account {username!r} has no registered email")
        return email

    def _account(self, username: str) -> DirectoryAccount:
        account = DirectoryAccount.objects.filter(username=username).first()
        if account is None:
            raise DirectoryError(f"no directory account named {username!r}")
        return account

    def _update(self, username: str, **fields: object) -> None:
        """One UPDATE: no read-modify-write race, and a missing account shows as zero rows."""
        accounts: QuerySet[DirectoryAccount] = DirectoryAccount.objects.filter(username=username)
        if accounts.update(**fields) == 0:
            raise DirectoryError(f"no directory account named {username!r}")
