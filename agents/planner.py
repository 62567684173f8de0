"""The planner: the router's result, optionally checked by a chat model, becomes one typed result.

The router guards the model. The model is offered only the actions the router allowed for this
ticket (with the parameters the router read in the text as the only values), plus
``ask_requester`` and ``escalate``; whatever it answers, the result is never an action the router
did not allow. When the model is consulted is ``AGENT_LLM_ROLE`` (measured in
docs/agent-evaluation.md):

- ``grey`` (default): only in the router's unsure band. The model chooses between a question and a
  hand-over; picking one of the router's candidates there means "ask about that one" — the
  router was not sure enough to act, and the model alone never makes it so.
- ``confirm``: also for every action the router would take; the model must call that same action
  with the same parameters, anything else becomes a question or a hand-over.
- ``off``: never.

A malformed answer or an unknown tool is retried once, then the ticket is escalated with that
reason. Model calls and tokens per ticket are capped. Provider outages raise ``ModelUnavailable``
for the task to retry later.
"""

import json
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from agents import prompts
from agents.redact import redact_all
from agents.router import ACT, ASK, ESCALATE, RouterResult
from understanding import llm
from understanding.budget import Budget
from understanding.catalog import Catalog

PROPOSAL, QUESTION = "proposal", "question"
ASK_TOOL, ESCALATE_TOOL = "ask_requester", "escalate"


@dataclass(frozen=True)
class Plan:
    """What the agent will do: propose an action to governance, ask the requester, or escalate."""

    kind: str  # proposal | question | escalate
    action: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    confidence: float = 0.0
    reasons: tuple[str, ...] = ()
    question: str = ""
    model_question: str = ""  # what the model wanted to ask (recorded, not shown)
    model_failed: bool = False  # escalations caused by the model: AGENT_FAILED
    model: str = ""
    prompt_version: str = ""
    llm_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_estimated: bool = False
    seconds: float = 0.0
    error: str = ""


def confidence_of(route: RouterResult) -> float:
    """The router's margin over the out-of-scope score, mapped to 0..1 (0.5 = just above it)."""
    best = next((c.score for c in route.candidates if c.action == route.action), 0.0)
    return round(max(0.0, min(1.0, 0.5 + (best - route.out_of_scope) * 2.5)), 3)


def router_plan(route: RouterResult, catalog: Catalog) -> Plan:
    """The router's own decision, without a model."""
    if route.band == ACT and route.action:
        return Plan(PROPOSAL, route.action, dict(route.params), confidence_of(route), route.reasons)
    if route.band == ASK:
        return Plan(QUESTION, reasons=route.reasons, question=prompts.question_for(route, catalog))
    return Plan(ESCALATE, reasons=route.reasons)


def consults_model(route: RouterResult, role: str) -> bool:
    if role == "off" or route.band == ESCALATE:
        return False
    return route.band == ASK or (route.band == ACT and role == "confirm")


def plan(
    route: RouterResult,
    catalog: Catalog,
    *,
    model: BaseChatModel | None,
    model_name: str = "",
    role: str = "grey",
    max_calls: int = 3,
    max_tokens: int = 6000,
) -> Plan:
    base = router_plan(route, catalog)
    if model is None or not consults_model(route, role):
        return base
    tools = _tools(route, catalog)
    names = [t["function"]["name"] for t in tools]
    messages: list[BaseMessage] = [SystemMessage(prompts.SYSTEM), HumanMessage(prompts.ticket_message(route))]
    budget = Budget(max_calls, max_tokens)
    runnable = llm.bind_tools(model, tools)
    failure = ""
    for attempt in range(2):  # the first answer, and one retry after a malformed one
        if stop := budget.exhausted():
            failure = stop
            break
        try:
            result = llm.invoke(runnable, messages, tools)
        except llm.ModelUnavailable as error:
            error.args = (redact_all(str(error)),)  # recorded on the run and shown on the ticket
            raise
        except llm.ModelError as error:
            # A provider's error may quote the request or the key: stored and shown only redacted.
            failure = f"model error: {redact_all(str(error))}"[:300]
            break
        budget.spend(result)
        call, problem = _parse(result.message, names)
        if call is not None:
            return _stamp(_interpret(route, catalog, base, call), budget, model_name)
        failure = f"malformed answer: {problem}"
        if attempt == 0:
            messages += [
                result.message,
                HumanMessage(prompts.RETRY.format(error=problem, tools=", ".join(names))),
            ]
    plan_ = Plan(ESCALATE, reasons=(*route.reasons, failure), model_failed=True, error=failure)
    return _stamp(plan_, budget, model_name)


def _tools(route: RouterResult, catalog: Catalog) -> list[dict[str, Any]]:
    if route.band == ACT and route.action:
        offered = [(route.action, route.params)]
    else:
        offered = [(c.action, c.params) for c in route.allowed]
    tools = []
    for code, params in offered:
        info = catalog.action(code)
        if info is not None and info.enabled:
            tools.append(prompts.action_tool(code, info.description, params))
    return [*tools, prompts.ASK_TOOL, prompts.ESCALATE_TOOL]


def _parse(message: AIMessage, names: list[str]) -> tuple[dict[str, Any] | None, str]:
    """Exactly one call of an offered tool, or why not."""
    if message.invalid_tool_calls:
        bad = message.invalid_tool_calls[0]
        return (
            None,
            f"arguments of {bad.get('name') or 'a tool call'} do not parse: {bad.get('error') or ''}"[:200],
        )
    calls = list(message.tool_calls)
    if not calls:
        calls = _calls_from_text(str(message.content))
    if not calls:
        return None, "no tool call"
    if len(calls) > 1:
        return None, f"{len(calls)} tool calls instead of one"
    call = calls[0]
    if call["name"] not in names:
        return None, f"unknown tool {call['name']!r}"
    if not isinstance(call.get("args"), dict):
        return None, f"arguments of {call['name']} are not an object"
    return {"name": call["name"], "args": call["args"]}, ""


def _calls_from_text(text: str) -> list[Any]:
    """A model without native tool calls may answer with the JSON shape shown in the prompt."""
    try:
        data = json.loads(text.strip())
    except ValueError:
        return []
    if isinstance(data, dict) and isinstance(data.get("name"), str):
        return [{"name": data["name"], "args": data.get("arguments", {})}]
    return []


def _interpret(route: RouterResult, catalog: Catalog, base: Plan, call: dict[str, Any]) -> Plan:
    name, args = call["name"], call["args"]
    said = str(args.get("question") or args.get("reason") or "")[:300]
    if name == ESCALATE_TOOL:
        return Plan(ESCALATE, reasons=(*route.reasons, f"model: escalate ({said})"))
    if name == ASK_TOOL:
        question = base.question or prompts.question_for(route, catalog)
        return Plan(QUESTION, reasons=(*route.reasons, "model: ask"), question=question, model_question=said)
    params = {str(k): str(v) for k, v in args.items()}
    if route.band == ACT:
        if name == route.action and params == route.params:
            return Plan(
                PROPOSAL,
                route.action,
                dict(route.params),
                base.confidence,
                (*route.reasons, "model: confirmed"),
            )
        return Plan(ESCALATE, reasons=(*route.reasons, f"model disagrees: {name} {params}"))
    # Grey band: the router was not sure enough to act and the model alone never makes it so.
    question = prompts.question_for(route, catalog, focus=name)
    return Plan(QUESTION, reasons=(*route.reasons, f"model leans to {name}"), question=question)


def _stamp(plan_: Plan, budget: Budget, model_name: str) -> Plan:
    return replace(
        plan_,
        model=model_name,
        prompt_version=prompts.PROMPT_VERSION,
        llm_calls=budget.calls,
        tokens_in=budget.tokens_in,
        tokens_out=budget.tokens_out,
        tokens_estimated=budget.estimated,
        seconds=budget.seconds,
    )
