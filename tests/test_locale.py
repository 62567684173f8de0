"""The requester's acknowledgement in their language: Django's own i18n with the committed catalogs."""

import ast
import gettext as gettext_module
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

LANGUAGES = ["de", "fr", "es", "pt", "nl", "it"]
HANDED_TO_TEAM = (
    "Your request has been passed to the %(team)s team. A member of the service desk will pick it up "
    "and reply here."
)
NOT_READ = "We could not read your request with confidence in %(language)s, so a person will handle it."
SENTENCES = [HANDED_TO_TEAM, NOT_READ]
TEAMS = ["Accounts & Access", "Software", "Hardware", "Network", "General"]
# Team names a company would translate in all six; "Software" and "Hardware" stay English in most of
# them, and "General" is the same word in Spanish.
TRANSLATED_TEAMS = ["Accounts & Access", "Network"]


def test_locale_path_is_configured():
    assert Path(settings.BASE_DIR) / "locale" in [Path(p) for p in settings.LOCALE_PATHS]


def _po_entries(path: Path) -> dict[str, str]:
    """msgid -> msgstr of a .po file whose strings are one line each (as ours are)."""
    entries: dict[str, str] = {}
    msgid = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("msgid "):
            msgid = ast.literal_eval(line[len("msgid ") :])
        elif line.startswith("msgstr ") and msgid:
            entries[msgid] = ast.literal_eval(line[len("msgstr ") :])
            msgid = None
    return entries


@pytest.mark.parametrize("code", LANGUAGES)
def test_committed_mo_matches_its_po(code):
    """The .mo files are committed (CI has no gettext): each must be compiled from the current .po."""
    folder = Path(settings.BASE_DIR) / "locale" / code / "LC_MESSAGES"
    entries = _po_entries(folder / "django.po")
    assert set(entries) == set(SENTENCES + TEAMS)
    with (folder / "django.mo").open("rb") as handle:
        catalog = gettext_module.GNUTranslations(handle)
    for msgid, msgstr in entries.items():
        assert catalog.gettext(msgid) == msgstr, (code, msgid)


@pytest.mark.parametrize("code", LANGUAGES)
def test_sentences_are_translated_and_keep_their_placeholders(code):
    with translation.override(code):
        handed = gettext(HANDED_TO_TEAM)
        not_read = gettext(NOT_READ)
    assert handed != HANDED_TO_TEAM
    assert not_read != NOT_READ
    assert handed.count("%(team)s") == 1
    assert not_read.count("%(language)s") == 1
    # The placeholders still format.
    assert "Netzwerk" in (handed % {"team": "Netzwerk"})
    assert "Deutsch" in (not_read % {"language": "Deutsch"})


@pytest.mark.parametrize("code", LANGUAGES)
def test_team_names_are_translated_where_a_company_would(code):
    with translation.override(code):
        names = {team: gettext(team) for team in TEAMS}
    for team in TEAMS:
        assert names[team].strip()
    for team in TRANSLATED_TEAMS:
        assert names[team] != team, (code, team)


def test_english_is_unchanged():
    with translation.override("en"):
        for message in SENTENCES + TEAMS:
            assert gettext(message) == message


def test_a_full_acknowledgement_reads_naturally_in_german():
    with translation.override("de"):
        text = gettext(HANDED_TO_TEAM) % {"team": gettext("Accounts & Access")}
    assert text.startswith("Ihre Anfrage wurde an das Team Konten & Zugriffe weitergeleitet.")
