"""The directory the executor acts on, chosen by the ``DIRECTORY_BACKEND`` setting."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from governance.directory.base import DirectoryConnector


def get_connector() -> DirectoryConnector:
    """A connector for the configured backend; cheap to build, so callers need not keep one."""
    # Imported here, not at module level: both connectors import governance.models, and importing
    # this package (say, for base.py's types) must work before the app registry is ready.
    backend = settings.DIRECTORY_BACKEND
    if backend == "builtin":
        from governance.directory.builtin import BuiltinDirectory

        return BuiltinDirectory()
    if backend == "ldap":
        from governance.directory.ldap import LdapDirectory

        return LdapDirectory(
            uri=settings.LDAP_URI,
            bind_dn=settings.LDAP_BIND_DN,
            bind_password=settings.LDAP_BIND_PASSWORD,
            people_dn=f"ou=people,{settings.LDAP_BASE_DN}",
            groups_dn=f"ou=groups,{settings.LDAP_BASE_DN}",
            connect_timeout=settings.LDAP_TIMEOUT_SECONDS,
            receive_timeout=settings.LDAP_TIMEOUT_SECONDS,
        )
    raise ImproperlyConfigured(f"DIRECTORY_BACKEND={backend!r}: expected 'builtin' or 'ldap'")
