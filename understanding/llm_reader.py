"""The ticket's reading from a capable chat model, verified against the text by code (issue 13, 8).

The model proposes; code checks. ``read_with_model`` asks the model, through the one LangChain entry
point (``understanding.llm``), to call ``record_reading`` once, parses the answer strictly (one retry after
a malformed one) and returns it already passed through ``verify``. ``verify`` is deterministic and
never trusts the model: the action must be an enabled catalog action, the entity a catalog name
that the requester actually wrote (by the catalog's own alias matching), a privileged group is
never actionable, quotes the model "relied on" must be in the text, and a directory person other
than the requester named in the text makes the reading about someone else. ``compare`` tells the
pipeline whether the local understanding and the model agree; on disagreement it asks or hands
over, and governance decides about any action as it always does.
"""

import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from core.redact import redact_all
from understanding import llm
from understanding import llm_prompts as prompts
from understanding.budget import Budget
from understanding.catalog import PRIVILEGED, Catalog
from understanding.types import Beneficiary, Polarity, Reading, SpeechAct

logger = logging.getLogger(__name__)

# The catalog's entity actions (governance.models.ActionCode); the others take no entity.
GRANT, INSTALL = "grant_group_access", "install_software"

AGREE, DISAGREE, MODEL_ONLY, LOCAL_ONLY = "agree", "disagree", "model_only", "local_only"

# Flags of the local reading that refuse what the model might propose.
_VETO_FLAGS = ("near_miss:", "quoted_request", "auto_reply")
_NULLS = {"", "null", "none"}


@dataclass(frozen=True)
class ModelReading:
    """The model's verified reading (or why there is none) and what it cost, for the run's record."""

    reading: Reading | None
    problem: str = ""  # why there is no reading: a malformed answer after one retry, a model error
    proposed: Reading | None = None  # the model's reading as it gave it, before verification
    model: str = ""
    prompt_version: str = prompts.READER_PROMPT_VERSION
    llm_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_estimated: bool = False
    seconds: float = 0.0


class _Malformed(ValueError):
    """The model's answer is not one well-formed call of ``record_reading``."""


# --- asking the model ---------------------------------------------------------------------------


def read_with_model(
    text: str,
    *,
    requester: str,
    catalog: Catalog,
    model: BaseChatModel,
    language: str = "en",
    max_calls: int = 3,
    max_tokens: int = 6000,
    model_name: str = "",
) -> ModelReading:
    """The model's reading of ``text`` (already redacted, the requester's own words), verified.

    Raises ``llm.ModelUnavailable`` (redacted) for the task to retry later; any other model failure
    or a second malformed answer gives ``reading=None`` with the reason in ``problem``.
    """
    tool = prompts.reading_tool(catalog)
    base: list[BaseMessage] = [
        SystemMessage(prompts.SYSTEM),
        HumanMessage(prompts.ticket_message(text, requester=requester, language=language)),
    ]
    messages = base
    budget = Budget(max_calls, max_tokens)
    runnable = llm.bind_tools(model, [tool])
    problem = ""
    for _attempt in range(2):  # the first answer, and one retry after a malformed one
        if stop := budget.exhausted():
            problem = stop
            break
        try:
            result = llm.invoke(runnable, messages, [tool])
        except llm.ModelUnavailable as error:
            error.args = (redact_all(str(error)),)  # recorded on the run and shown on the ticket
            raise
        except llm.ModelError as error:
            # A provider's error may quote the request or the key: kept only redacted.
            problem = f"model error: {redact_all(str(error))}"[:300]
            break
        budget.spend(result)
        try:
            proposed = parse_reading(result.message, catalog, language=language)
        except _Malformed as error:
            problem = f"malformed answer: {error}"[:300]
            # The correction follows the ticket rather than the bad answer: an unanswered tool call
            # in the history is itself an error for OpenAI and Anthropic.
            messages = [*base, HumanMessage(prompts.retry_message(str(error)))]
            continue
        reading = verify(proposed, text=text, requester=requester, catalog=catalog)
        return _stamp(ModelReading(reading, proposed=proposed), budget, model, model_name)
    logger.info("model reading failed after %d call(s): %s", budget.calls, problem)
    return _stamp(ModelReading(None, problem=problem), budget, model, model_name)


def _stamp(result: ModelReading, budget: Budget, model: BaseChatModel, model_name: str) -> ModelReading:
    return replace(
        result,
        model=model_name or llm.model_label(model) or type(model).__name__,
        llm_calls=budget.calls,
        tokens_in=budget.tokens_in,
        tokens_out=budget.tokens_out,
        tokens_estimated=budget.estimated,
        seconds=round(budget.seconds, 3),
    )


# --- parsing the answer -------------------------------------------------------------------------


def parse_reading(message: AIMessage, catalog: Catalog, *, language: str = "en") -> Reading:
    """Exactly one ``record_reading`` call with values inside its schema, as a ``Reading``.

    A known but disabled catalog action is accepted here (``verify`` withholds it) so that the
    hand-over still knows what was asked; an action code the catalog does not have is malformed.
    """
    args = _one_call(message)
    detail = args.get("beneficiary_detail") or ""
    if not isinstance(detail, str):
        raise _Malformed("beneficiary_detail is not a string")
    return Reading(
        speech_act=SpeechAct(_choice(args, "speech_act", [s.value for s in SpeechAct])),
        polarity=Polarity(_choice(args, "polarity", [p.value for p in Polarity])),
        beneficiary=Beneficiary(_choice(args, "beneficiary", [b.value for b in Beneficiary])),
        beneficiary_detail=detail.strip()[: prompts.DETAIL_MAX_CHARS],
        action=_action(args.get("action"), catalog),
        entity=_optional_string(args.get("entity"), "entity"),
        evidence=_evidence(args.get("evidence")),
        language=language,
    )


def _one_call(message: AIMessage) -> dict[str, Any]:
    if message.invalid_tool_calls:
        bad = message.invalid_tool_calls[0]
        name, error = bad.get("name") or "a tool call", bad.get("error") or ""
        raise _Malformed(f"arguments of {name} do not parse: {error}")
    calls = list(message.tool_calls) or _calls_from_text(str(message.content))
    if not calls:
        raise _Malformed("no tool call")
    if len(calls) > 1:
        raise _Malformed(f"{len(calls)} tool calls instead of one")
    name, args = calls[0]["name"], calls[0].get("args")
    if name != prompts.TOOL_NAME:
        raise _Malformed(f"unknown tool {_short(str(name))!r}")
    if not isinstance(args, dict):
        raise _Malformed(f"arguments of {prompts.TOOL_NAME} are not an object")
    return args


def _calls_from_text(text: str) -> list[dict[str, Any]]:
    """A model without native tool calls may answer with the JSON call, or the arguments alone."""
    try:
        data = json.loads(text.strip())
    except ValueError:
        return []
    if isinstance(data, dict) and isinstance(data.get("name"), str):
        return [{"name": data["name"], "args": data.get("arguments", {})}]
    if isinstance(data, dict) and "speech_act" in data:
        return [{"name": prompts.TOOL_NAME, "args": data}]
    return []


def _choice(args: dict[str, Any], key: str, allowed: list[str]) -> str:
    value = args.get(key)
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        raise _Malformed(f"{key} {_short(str(value))!r} is not one of {', '.join(allowed)}")
    return value.strip().lower()


def _optional_string(value: Any, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Malformed(f"{key} is not a string or null")
    return None if value.strip().lower() in _NULLS else value.strip()[:100]


def _action(value: Any, catalog: Catalog) -> str | None:
    code = _optional_string(value, "action")
    if code is not None and catalog.action(code) is None:
        raise _Malformed(f"action {_short(code)!r} is not a catalog action")
    return code


def _evidence(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):  # one quote instead of a list of one: harmless
        value = [value]
    if not isinstance(value, list) or not all(isinstance(q, str) for q in value):
        raise _Malformed("evidence is not a list of strings")
    quotes = [q.strip()[: prompts.EVIDENCE_MAX_CHARS] for q in value if q.strip()]
    return tuple(quotes[: prompts.EVIDENCE_MAX_ITEMS])


def _short(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


# --- verifying it against the text --------------------------------------------------------------


def verify(reading: Reading, *, text: str, requester: str, catalog: Catalog) -> Reading:
    """The reading as far as the text and the catalog support it; each downgrade has a flag and a
    note. Deterministic and idempotent: verifying a verified reading changes nothing."""
    flags: list[str] = []
    notes: list[str] = []
    evidence = _check_evidence(reading.evidence, text, flags, notes)
    entity = _check_entity(reading.entity, text, catalog, flags, notes)
    beneficiary, detail = _check_beneficiary(reading, text, requester, catalog, flags, notes)
    action = reading.action
    if action is not None:
        reason = _action_problem(action, entity, catalog, entity_flagged=reading.entity != entity)
        if not reason and not evidence and replace(reading, beneficiary=beneficiary).actionable:
            reason = ("no_evidence", "none of the model's quotes is in the text")
        if reason:
            flags += [reason[0], f"withheld_action:{action}"]
            notes.append(f"{action} withheld: {reason[1]}")
            action = None
    return replace(
        reading,
        action=action,
        entity=entity,
        beneficiary=beneficiary,
        beneficiary_detail=detail,
        evidence=evidence,
        flags=_merge(reading.flags, flags),
        notes=_merge(reading.notes, notes),
    )


def _normalise(value: str) -> str:
    value = value.translate(str.maketrans("\u2018\u2019\u201c\u201d", "''\"\""))
    return " ".join(value.split()).casefold()


def _check_evidence(
    quotes: tuple[str, ...], text: str, flags: list[str], notes: list[str]
) -> tuple[str, ...]:
    haystack = _normalise(text)
    kept = tuple(q for q in quotes if _normalise(q) and _normalise(q) in haystack)
    dropped = [q for q in quotes if q not in kept]
    if dropped:
        flags.append("evidence_not_in_text")
        shown = "; ".join(repr(_short(redact_all(q))) for q in dropped)
        notes.append(f"dropped {len(dropped)} quote(s) not in the text: {shown}")
    return kept


def _canonical(name: str, catalog: Catalog) -> str | None:
    names = [s.name for s in catalog.software] + [g.name for g in catalog.groups]
    return next((n for n in names if n.casefold() == name.strip().casefold()), None)


def _check_entity(
    name: str | None, text: str, catalog: Catalog, flags: list[str], notes: list[str]
) -> str | None:
    """A canonical catalog name that the requester wrote (the name or an alias), else None."""
    if not name:
        return None
    canonical = _canonical(name, catalog)
    if canonical is None:
        flags.append(f"invented_entity:{_short(name)}")
        notes.append(f"{_short(name)!r} is not a catalog software or group name")
        return None
    # exact names only: "Acrobat Reader" contains the alias "acrobat" but is not Adobe Acrobat Pro
    if canonical not in catalog.software_exact(text)[0] + catalog.groups_exact(text)[0]:
        flags.append(f"entity_not_in_text:{canonical}")
        notes.append(f"neither {canonical} nor one of its aliases is in the requester's words")
        return None
    return canonical


def _check_beneficiary(
    reading: Reading, text: str, requester: str, catalog: Catalog, flags: list[str], notes: list[str]
) -> tuple[Beneficiary, str]:
    others = catalog.other_people(text, requester)
    if not others:
        return reading.beneficiary, reading.beneficiary_detail
    flags += [f"other_person:{name}" for name in others]
    notes.append(f"the text names {', '.join(others)}: not only the requester's own account")
    return Beneficiary.OTHER, reading.beneficiary_detail or ", ".join(others)


def _action_problem(
    action: str, entity: str | None, catalog: Catalog, *, entity_flagged: bool
) -> tuple[str, str] | None:
    """Why the catalog does not let this action stand, as (flag, note); None when it does."""
    info = catalog.action(action)
    if info is None:
        return f"unknown_action:{_short(action)}", "not a catalog action"
    if not info.enabled:
        return f"disabled_action:{action}", "the action is disabled in the catalog"
    if action == GRANT:
        group = catalog.group(entity) if entity else None
        if group is None:
            return _missing("group", entity, entity_flagged)
        if group.tier == PRIVILEGED:
            return f"privileged_group:{group.name}", f"{group.name} is privileged: a person decides"
    if action == INSTALL and entity not in {s.name for s in catalog.software}:
        return _missing("software", entity, entity_flagged)
    return None


def _missing(kind: str, entity: str | None, entity_flagged: bool) -> tuple[str, str]:
    if entity is not None:
        return f"entity_mismatch:{entity}", f"{entity} is not catalog {kind}"
    # When the entity was already refused, its own flag says why; this one says what is missing.
    note = "the entity was refused" if entity_flagged else f"no catalog {kind} named"
    return f"missing_{kind}", note


def _merge(old: tuple[str, ...], new: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*old, *new]))


# --- comparing it with the local reading --------------------------------------------------------


def compare(local: Reading, model: Reading) -> str:
    """``agree``, ``disagree``, ``model_only`` or ``local_only``.

    Both actionable: agree only on the same action and entity. Neither: agree (no action either
    way). One only: ``model_only`` / ``local_only`` when the other merely found nothing, and
    ``disagree`` when it positively says otherwise (a question, a "don't", a removal, someone
    else's account, another action or entity, or a local refusal such as a near-miss product).
    """
    if local.actionable and model.actionable:
        same = (local.action, local.entity) == (model.action, model.entity)
        return AGREE if same else DISAGREE
    if not local.actionable and not model.actionable:
        return AGREE
    if model.actionable:
        return DISAGREE if _contradicts(local, model) else MODEL_ONLY
    return DISAGREE if _contradicts(model, local) else LOCAL_ONLY


def _contradicts(silent: Reading, acting: Reading) -> bool:
    """Whether the non-actionable reading says something against the actionable one."""
    if silent.speech_act not in (SpeechAct.REQUEST, SpeechAct.OTHER):
        return True
    if silent.polarity == Polarity.REMOVE or silent.beneficiary == Beneficiary.OTHER:
        return True
    if any(flag.startswith(_VETO_FLAGS) for flag in silent.flags):
        return True
    if any(flag.startswith(("invented_entity:", "withheld_action:")) for flag in silent.flags):
        return True  # it proposed something that verification refused
    if silent.action is not None and silent.action != acting.action:
        return True
    return silent.entity is not None and silent.entity != acting.entity
