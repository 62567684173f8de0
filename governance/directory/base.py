"""One interface for every directory the executor can act on."""

from dataclasses import dataclass, field
from typing import Protocol


class DirectoryError(Exception):
    """The directory refused or failed; the message is safe to show staff (never a secret)."""


class TransientDirectoryError(DirectoryError):
    """Worth retrying: timeouts, connection refused, server busy."""


@dataclass(frozen=True)
class AccountState:
    """What the executor reads before and after a side effect."""

    username: str
    exists: bool
    locked: bool = False
    mfa_reset_pending: bool = False
    groups: frozenset[str] = field(default_factory=frozenset)
    software: frozenset[str] = field(default_factory=frozenset)
    password_changed_at: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "exists": self.exists,
            "locked": self.locked,
            "mfa_reset_pending": self.mfa_reset_pending,
            "groups": sorted(self.groups),
            "software": sorted(self.software),
            "password_changed_at": self.password_changed_at,
        }


class DirectoryConnector(Protocol):
    name: str

    def read_state(self, username: str) -> AccountState: ...

    def unlock_account(self, username: str) -> None: ...

    def reset_mfa(self, username: str) -> None: ...

    def add_to_group(self, username: str, group: str) -> None: ...

    def assign_software(self, username: str, software: str) -> None: ...

    def set_password(self, username: str, new_password: str) -> None:
        """Called only from the one-time reset link's page, by the account holder."""
        ...

    def registered_email(self, username: str) -> str: ...
