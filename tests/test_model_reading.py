"""AGENT_LLM_ROLE=read through the whole understanding (issue 13, behaviour 8): the local reading and
a capable model's verified reading meet in ``agents.model_reading``. The model is a LangChain fake
chat model returning scripted ``record_reading`` calls through the real ``understanding.llm`` path."""

from typing import Any

import pytest
from langchain_core.messages import AIMessage

from agents.pipeline import understand_batch
from tests.test_agent_router import demo_catalog, demo_router  # noqa: F401 - the shared fixture
from tests.test_understanding_llm import Failing, Scripted
from understanding import llm


def reading(**overrides: Any) -> AIMessage:
    args: dict[str, Any] = {
        "speech_act": "request",
        "polarity": "add",
        "beneficiary": "self",
        "beneficiary_detail": "",
        "action": None,
        "entity": None,
        "evidence": [],
        **overrides,
    }
    return AIMessage(content="", tool_calls=[{"name": "record_reading", "args": args, "id": "call-1"}])


@pytest.fixture
def model(monkeypatch, settings):
    settings.AGENT_LLM = "openai:gpt-test"
    settings.AGENT_LLM_ROLE = "read"

    def use(*answers: AIMessage) -> Scripted:
        fake = Scripted(responses=list(answers))
        monkeypatch.setattr(llm, "chat_model", lambda *a, **k: fake)
        return fake

    return use


def understood(router, text: str, requester: str = "alice"):
    return understand_batch([text], [requester], catalog=router.catalog, router=router)[0]


def test_the_model_agrees_and_the_proposal_goes_to_governance(demo_router, model):  # noqa: F811
    fake = model(reading(action="install_software", entity="Zoom", evidence=["install Zoom"]))
    u = understood(demo_router, "Please install Zoom on my laptop")
    assert (u.proposal.action, u.proposal.params) == ("install_software", {"software": "Zoom"})
    assert u.plan.llm_calls == 1 and "model: agrees" in u.plan.reasons
    assert len(fake.offered) == 1


def test_the_model_reads_what_the_local_models_cannot_and_code_verifies_it(demo_router, model):  # noqa: F811
    model(reading(action="unlock_account", evidence=["Mein Konto ist gesperrt"]))
    u = understood(demo_router, "Mein Konto ist gesperrt, bitte entsperren")
    assert u.prepared is not None and u.prepared.reading.language == "de"
    assert (u.proposal.action, u.proposal.params) == ("unlock_account", {})


def test_when_the_model_disagrees_a_person_decides(demo_router, model):  # noqa: F811
    model(reading(speech_act="cancel", action="install_software", entity="Zoom", evidence=["Zoom"]))
    u = understood(demo_router, "Please install Zoom on my laptop")
    assert u.proposal is None
    assert u.plan.kind == "escalate" and any("the model disagrees" in r for r in u.plan.reasons)


def test_an_invented_entity_is_never_proposed(demo_router, model):  # noqa: F811
    model(reading(action="install_software", entity="PDF Master 9", evidence=["the PDF thing"]))
    u = understood(demo_router, "can you install the PDF thing for me")
    assert u.proposal is None


def test_the_model_cannot_make_another_persons_request_the_requesters(demo_router, model):  # noqa: F811
    model(reading(action="reset_password", evidence=["reset dave's password"]))
    u = understood(demo_router, "reset dave's password", "bob")
    assert u.proposal is None


def test_a_removal_the_model_calls_an_add_is_not_acted_on(demo_router, model):  # noqa: F811
    model(reading(action="grant_group_access", entity="sales-crm", evidence=["sales-crm"]))
    u = understood(demo_router, "please take me out of sales-crm", "carol")
    assert u.proposal is None


def test_a_malformed_answer_twice_hands_the_ticket_to_a_person(demo_router, model):  # noqa: F811
    model(AIMessage(content="I think they want Zoom"), AIMessage(content="Zoom!"))
    u = understood(demo_router, "Please install Zoom on my laptop")
    assert u.proposal is None
    assert (u.plan.kind, u.plan.model_failed, u.plan.llm_calls) == ("escalate", True, 2)


def test_a_provider_timeout_is_raised_for_the_task_to_retry(demo_router, monkeypatch, settings):  # noqa: F811
    settings.AGENT_LLM, settings.AGENT_LLM_ROLE = "openai:gpt-test", "read"
    failing = Failing(messages=iter([]), error=TimeoutError("read timed out"))
    monkeypatch.setattr(llm, "chat_model", lambda *a, **k: failing)
    with pytest.raises(llm.ModelUnavailable):
        understood(demo_router, "Please install Zoom on my laptop")
