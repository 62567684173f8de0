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

PRIVILEGED = "privileged"


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

    from governance.models import CatalogAction, DirectoryGroup, Software

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
