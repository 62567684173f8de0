"""What the router knows about the organisation: a plain snapshot of the database catalog.

The snapshot is plain data (no ORM objects), so the router stays framework-free and a worker can
keep one router per process and rebuild it only when ``Catalog.key`` changes.

Names and aliases are matched on word boundaries, case-insensitively, with a little morphology so
that the aliases stored in the database need not list every spelling: separators between words
may be a space, a hyphen or nothing ("vs code", "vs-code", "vscode"), and the last word may be
singular or plural ("repos" / "repo", "repositories" / "repository").
"""

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from functools import cached_property

from governance.models import CatalogAction, DirectoryGroup, Software

PRIVILEGED = "privileged"

# After a software name, a word that makes it another product or edition ("Tableau Server").
EDITION_WORDS = frozenset(
    [
        "server",
        "cloud",
        "online",
        "prep",
        "reader",
        "standard",
        "lt",
        "lite",
        "rooms",
        "room",
        "webinar",
        "webinars",
        "phone",
        "enterprise",
        "community",
        "premium",
        "business",
        "express",
        "viewer",
        "mobile",
        "web",
        "portal",
        "plugin",
        "add-in",
        "addin",
        "extension",
        "sdk",
        "api",
        "workspace",
        "admin",
        "admins",
        "connect",
        "huddle",
        "huddles",
        "sign",
        "mechanical",
        "architecture",
    ]
)
# Capitalised words after a name that do not change the product ("Zoom Please", "Slack App").
NOT_EDITIONS = frozenset(
    [
        "i",
        "i'm",
        "i'd",
        "i've",
        "please",
        "pls",
        "plz",
        "thanks",
        "thank",
        "thx",
        "asap",
        "app",
        "apps",
        "application",
        "client",
        "desktop",
        "software",
        "program",
        "licence",
        "license",
        "licences",
        "licenses",
        "seat",
        "install",
        "installed",
        "installation",
        "package",
        "tool",
        "access",
        "account",
        "group",
        "membership",
        "rights",
        "for",
        "on",
        "to",
        "in",
        "my",
        "and",
        "or",
        "too",
        "as",
        "so",
        "again",
        "because",
        "with",
        "it",
        "is",
        "would",
        "could",
        "can",
        "will",
        "be",
        "the",
        "a",
        "an",
        "installer",
        "download",
    ]
)


@dataclass(frozen=True)
class ActionInfo:
    code: str
    description: str
    examples: tuple[str, ...]
    queue: str
    enabled: bool = True


@dataclass(frozen=True)
class GroupInfo:
    name: str
    description: str
    tier: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class SoftwareInfo:
    name: str
    yearly_cost_usd: int
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Person:
    username: str
    first_name: str = ""


def _word_pattern(word: str, last: bool) -> str:
    if not last:
        return re.escape(word)
    if len(word) > 4 and word.endswith("ies"):
        return re.escape(word[:-3]) + "(?:y|ies)"
    if len(word) > 3 and word.endswith("y"):
        return re.escape(word[:-1]) + "(?:y|ies)"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return re.escape(word[:-1]) + "s?"
    return re.escape(word) + "s?"


def alias_pattern(alias: str) -> str:
    """A regular expression for one name or alias (see the module docstring)."""
    words = [w for w in re.split(r"[\s\-_]+", alias.strip().lower()) if w]
    if words and words[0] == "the" and len(words) > 1:
        words = words[1:]
    parts = [_word_pattern(w, i == len(words) - 1) for i, w in enumerate(words)]
    return r"[\s\-]?".join(parts)


def _compile(forms: list[str]) -> re.Pattern[str]:
    patterns = sorted({alias_pattern(f) for f in forms if f.strip()}, key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(patterns) + r")(?![\w-])", re.IGNORECASE)


def _exact(text: str, patterns: dict[str, re.Pattern[str]]) -> tuple[list[str], list[str]]:
    exact: list[str] = []
    misses: list[str] = []
    for name, rx in patterns.items():
        for m in rx.finditer(text):
            nxt = re.match(r"[ \t]*([A-Za-z][\w\-]*)", text[m.end() :])
            word = nxt.group(1) if nxt else ""
            lower = word.lower()
            in_name = lower in {w.lower() for w in re.split(r"[\s\-]+", name)}
            capital = word[:1].isupper() and not word.isupper() and lower not in NOT_EDITIONS
            if word and not in_name and (lower in EDITION_WORDS or capital):
                misses.append(f"{m.group(0)} {word}")
            elif name not in exact:
                exact.append(name)
    return exact, misses


@dataclass(frozen=True)
class Catalog:
    actions: tuple[ActionInfo, ...] = ()
    groups: tuple[GroupInfo, ...] = ()
    software: tuple[SoftwareInfo, ...] = ()
    people: tuple[Person, ...] = ()

    @cached_property
    def key(self) -> str:
        """Changes whenever anything the router embeds or matches changes."""
        data = {
            "actions": [asdict(a) for a in self.actions],
            "groups": [asdict(g) for g in self.groups],
            "software": [asdict(s) for s in self.software],
            "people": [asdict(p) for p in self.people],
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def action(self, code: str) -> ActionInfo | None:
        return next((a for a in self.actions if a.code == code), None)

    def group(self, name: str) -> GroupInfo | None:
        return next((g for g in self.groups if g.name == name), None)

    @cached_property
    def _group_res(self) -> dict[str, re.Pattern[str]]:
        return {g.name: _compile([g.name, g.description, *g.aliases]) for g in self.groups}

    @cached_property
    def _software_res(self) -> dict[str, re.Pattern[str]]:
        return {s.name: _compile([s.name, *s.aliases]) for s in self.software}

    @cached_property
    def _people_index(self) -> dict[str, set[str]]:
        index: dict[str, set[str]] = {}
        for person in self.people:
            for name in {person.username.lower(), person.first_name.lower()} - {""}:
                index.setdefault(name, set()).add(person.username)
        return index

    def people_index(self) -> dict[str, str]:
        """Lower-case usernames and unambiguous first names to usernames."""
        return {name: next(iter(users)) for name, users in self._people_index.items() if len(users) == 1}

    def software_exact(self, text: str) -> tuple[list[str], list[str]]:
        """(catalog software named, near-miss names). A name followed by a word that makes it another
        product or edition ("Acrobat Reader", "Tableau Server", "Zoom Rooms", "AutoCAD LT") is a
        near miss, not the catalog package: the head of the noun phrase decides what is meant."""
        return _exact(text, self._software_res)

    def groups_exact(self, text: str) -> tuple[list[str], list[str]]:
        """(catalog groups named, near misses such as "GitHub Copilot" for engineering-repos)."""
        return _exact(text, self._group_res)

    def mask_entities(self, text: str) -> str:
        """Software names become "the app", group names "the group" (longest match first)."""
        for rx in self._software_res.values():
            text = rx.sub("the app", text)
        for rx in self._group_res.values():
            text = rx.sub("the group", text)
        return text

    def find_groups(self, text: str) -> list[str]:
        return [name for name, rx in self._group_res.items() if rx.search(text)]

    def find_software(self, text: str) -> list[str]:
        return [name for name, rx in self._software_res.items() if rx.search(text)]

    def other_people(self, text: str, requester: str) -> list[str]:
        """Directory people other than the requester named in the text (username or first name)."""
        words = {w.strip(".") for w in re.findall(r"[\w.]+", text.lower())}
        found: set[str] = set()
        for word in words:
            found |= self._people_index.get(word, set())
        found.discard(requester)
        return sorted(found)

    def software_forms(self) -> dict[str, list[str]]:
        return {s.name: [s.name, *s.aliases] for s in self.software}

    def group_forms(self) -> dict[str, list[str]]:
        return {g.name: [g.name, g.description, *g.aliases] for g in self.groups}


def catalog_load() -> Catalog:
    """The catalog, groups, software and people from the database (a few small queries)."""
    from django.contrib.auth import get_user_model

    actions = tuple(
        ActionInfo(
            code=a.code,
            description=a.description,
            examples=tuple(str(e) for e in (a.example_requests or []) if str(e).strip()),
            queue=a.queue.slug,
            enabled=a.enabled,
        )
        for a in CatalogAction.objects.select_related("queue").order_by("code")
    )
    groups = tuple(
        GroupInfo(g.name, g.description, g.tier, tuple(str(x) for x in g.aliases or []))
        for g in DirectoryGroup.objects.order_by("name")
    )
    software = tuple(
        SoftwareInfo(s.name, s.yearly_cost_usd, tuple(str(x) for x in s.aliases or []))
        for s in Software.objects.order_by("name")
    )
    people = tuple(
        Person(username, first_name)
        for username, first_name in get_user_model()
        .objects.order_by("username")
        .values_list("username", "first_name")
    )
    return Catalog(actions=actions, groups=groups, software=software, people=people)
