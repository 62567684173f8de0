"""The real packaged Gemma 3 270M GGUF through llama.cpp and LangChain's ChatLlamaCpp.

Marked e2e (it loads a real model, ~1 s, and answers in a few seconds on two cores). CI must run
it: there a missing llama_cpp fails the test instead of skipping it.
"""

import importlib.util
import os

import pytest

from agents.planner import ESCALATE, QUESTION, plan
from agents.prompts import ASK_TOOL, ESCALATE_TOOL, action_tool
from tests.test_agent_router import demo_catalog, demo_router  # noqa: F401 - the shared fixture
from understanding import llm

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def local_model():
    if importlib.util.find_spec("llama_cpp") is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but llama_cpp (llama-cpp-python) is not installed")
        pytest.skip("llama-cpp-python is not installed")
    return llm.chat_model("local")


def test_local_model_answers_with_one_offered_tool_call_that_parses(local_model):
    tools = [action_tool("reset_password", "Send a password-reset link.", {}), ASK_TOOL, ESCALATE_TOOL]
    from langchain_core.messages import HumanMessage, SystemMessage

    result = llm.invoke(
        llm.bind_tools(local_model, tools),
        [SystemMessage("Call exactly one tool."), HumanMessage("<ticket>\nI forgot my password\n</ticket>")],
        tools,
    )
    [call] = result.message.tool_calls
    assert call["name"] in {"reset_password", "ask_requester", "escalate"}
    assert isinstance(call["args"], dict)
    assert result.estimated is False and result.tokens_in > 50 and result.tokens_out > 0


def test_local_model_in_the_planner_never_leaves_the_grey_band_choices(local_model, demo_router):  # noqa: F811
    route = demo_router.route("I need access", "alice")
    result = plan(route, demo_router.catalog, model=local_model, model_name="local", role="grey")
    assert result.kind in {QUESTION, ESCALATE}
    assert result.action is None and result.model_failed is False
    assert result.llm_calls == 1
