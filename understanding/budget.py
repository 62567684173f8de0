"""What one ticket may spend on the model: calls and tokens, shared by the planner and the reader."""

from dataclasses import dataclass

from understanding.llm import CallResult


@dataclass
class Budget:
    """Model calls and tokens spent on one ticket, against its caps (AGENT_LLM_MAX_CALLS / _TOKENS)."""

    max_calls: int
    max_tokens: int
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    estimated: bool = False
    seconds: float = 0.0

    def spend(self, result: CallResult) -> None:
        self.calls += 1
        self.tokens_in += result.tokens_in
        self.tokens_out += result.tokens_out
        self.estimated = self.estimated or result.estimated
        self.seconds += result.seconds

    def exhausted(self) -> str:
        if self.calls >= self.max_calls:
            return f"model call limit ({self.max_calls}) reached"
        if self.tokens_in + self.tokens_out >= self.max_tokens:
            return f"token limit ({self.max_tokens}) reached"
        return ""
