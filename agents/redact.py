"""Moved to ``core.redact`` (servicedesk and the log filter use it too); agents' modules import it here."""

from core.redact import (
    KEY_MARK,
    PASSWORD_MARK,
    PIN_MARK,
    PRIVATE_KEY_MARK,
    SecretsFilter,
    configured_secrets,
    redact,
    redact_all,
)

__all__ = [
    "KEY_MARK",
    "PASSWORD_MARK",
    "PIN_MARK",
    "PRIVATE_KEY_MARK",
    "SecretsFilter",
    "configured_secrets",
    "redact",
    "redact_all",
]
