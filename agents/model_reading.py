"""``AGENT_LLM_ROLE=read``: a capable chat model reads the ticket, code verifies, the two readings meet.

The local understanding (``understanding.reading`` + the router) and the model's verified
structured reading (``understanding.llm_reader``) are compared:
- both find the same present own-account request: the proposal goes to governance;
- only the model finds one, verified against the requester's own words (entity or alias in the
  text, the requester as beneficiary, a present request), and nothing local contradicts it: the
  model's proposal goes to governance — this is how a capable model fixes what the router missed,
  including tickets in other languages;
- they disagree: a person decides (when the local reading acts and the model does not) or the
  requester is asked (when both read a request but of different things).
Governance still decides every proposal, as for the router's.
"""

from dataclasses import replace

from langchain_core.language_models.chat_models import BaseChatModel

from agents import planner, prompts
from agents.planner import ESCALATE, PROPOSAL, QUESTION, Plan
from agents.router import ACT, GRANT, INSTALL, RouterResult
from understanding.catalog import Catalog
from understanding.llm_reader import AGREE, MODEL_ONLY, ModelReading, compare, read_with_model
from understanding.reading import Prepared
from understanding.types import Reading

ENTITY_PARAM = {INSTALL: "software", GRANT: "group"}


def local_reading(route: RouterResult, prepared: Prepared) -> Reading:
    """The local reading with the router's action and entity, as ``compare`` expects them."""
    if route.band != ACT or not route.action:
        return replace(prepared.reading, action=None, entity=None)
    entity = route.params.get(ENTITY_PARAM.get(route.action, ""), None)
    return replace(prepared.reading, action=route.action, entity=entity)


def plan_with_reader(
    route: RouterResult,
    prepared: Prepared,
    catalog: Catalog,
    *,
    requester: str,
    model: BaseChatModel,
    model_name: str,
    max_calls: int,
    max_tokens: int,
) -> Plan:
    """Raises ``llm.ModelUnavailable`` when the provider is down (the task retries, then hands over)."""
    local = local_reading(route, prepared)
    if "auto_reply" in local.flags or not prepared.body.strip():
        return planner.router_plan(route, catalog)
    read = read_with_model(
        prepared.body,
        requester=requester,
        catalog=catalog,
        model=model,
        language=local.language,
        max_calls=max_calls,
        max_tokens=max_tokens,
        model_name=model_name,
    )
    return _stamp(_decide(route, catalog, local, read), read)


def _decide(route: RouterResult, catalog: Catalog, local: Reading, read: ModelReading) -> Plan:
    if read.reading is None:
        reason = f"model: {read.problem}"[:300]
        return Plan(ESCALATE, reasons=(*route.reasons, reason), model_failed=True, error=read.problem[:500])
    model = read.reading
    verdict = compare(local, model)
    if verdict == AGREE and model.actionable:
        reasons = (*route.reasons, "model: agrees")
        return Plan(PROPOSAL, route.action, dict(route.params), planner.confidence_of(route), reasons)
    if verdict == AGREE:
        plan = planner.router_plan(route, catalog)
        return replace(plan, reasons=(*plan.reasons, f"model: agrees ({model.speech_act})"))
    if verdict == MODEL_ONLY and model.action:
        params = {ENTITY_PARAM[model.action]: model.entity} if model.action in ENTITY_PARAM else {}
        said = ", ".join(f'"{e}"' for e in model.evidence[:2])
        reasons = (*route.reasons, f"model: {model.action} {params or ''} from {said}".strip()[:300])
        return Plan(PROPOSAL, model.action, {k: str(v) for k, v in params.items()}, 0.75, reasons)
    detail = f"model reads {model.speech_act}/{model.polarity}/{model.beneficiary} {model.action or ''}"
    if local.actionable and not model.actionable:
        return Plan(ESCALATE, reasons=(*route.reasons, f"the model disagrees: {detail.strip()}"))
    if model.actionable:
        question = prompts.question_for(route, catalog, focus=model.action)
        return Plan(
            QUESTION, reasons=(*route.reasons, f"the model reads it differently: {detail}"), question=question
        )
    return Plan(ESCALATE, reasons=(*route.reasons, f"the model disagrees: {detail.strip()}"))


def _stamp(plan: Plan, read: ModelReading) -> Plan:
    return replace(
        plan,
        model=read.model,
        prompt_version=read.prompt_version,
        llm_calls=read.llm_calls,
        tokens_in=read.tokens_in,
        tokens_out=read.tokens_out,
        tokens_estimated=read.tokens_estimated,
        seconds=read.seconds,
    )
