"""Rate limits. The limits live in settings (REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]); the counters
in the shared cache, so every web and API process counts together."""

from rest_framework.throttling import UserRateThrottle


class TicketCreateThrottle(UserRateThrottle):
    """New tickets per person, through the web form and the API alike."""

    scope = "ticket_create"
