"""What the requester reads when their ticket is handed to a person, in their language.

English keeps the reason in plain words; for a ticket the agent found written in another language
(German, French, Spanish, Portuguese, Dutch, Italian: ``locale/``), the acknowledgement is in that
language and says that a person will handle it. Rendered with Django's translation machinery.
"""

from django.utils import translation
from django.utils.translation import gettext

HANDED_OVER = (
    "Your request has been passed to the %(team)s team. A member of the service desk will pick it up and "
    "reply here."
)
NOT_READ = "We could not read your request with confidence in %(language)s, so a person will handle it."


def handed_over(*, team: str, reason_label: str, language: str = "") -> str:
    if not language or language == "en":
        return (
            f"Your request has been passed to the {team} team ({reason_label}). "
            "A member of the service desk will pick it up and reply here."
        )
    with translation.override(language):
        name = translation.get_language_info(language)["name_local"]
        return f"{gettext(HANDED_OVER) % {'team': gettext(team)}} {gettext(NOT_READ) % {'language': name}}"
