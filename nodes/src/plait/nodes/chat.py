"""The provider-neutral chat format that model nodes speak and agents use.

A model node (``model.openai``, ``model.anthropic``, ``model.bedrock``) takes a
``ChatRequest``-shaped input and answers a ``ChatReply``; each provider module maps it
to and from its own wire format. An agent reaches a model node on its ``model`` service
edge with exactly these shapes, so the engine can read ``usage`` (for budgets) and
record every call (for replay) without knowing any provider.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, JsonValue

Role = Literal["system", "user", "assistant", "tool"]
StopReason = Literal["stop", "tool_calls", "length", "content_filter", "error"]


class ToolCall(BaseModel):
    """The model asks for one tool to be run with these arguments."""

    id: str = Field(description="The provider's id of this call; a tool result quotes it.")
    name: str = Field(description="The tool's name, as the model was told it.")
    arguments: dict[str, JsonValue] = Field(
        default_factory=dict, description="The arguments, parsed from the model's JSON."
    )


class ChatMessage(BaseModel):
    """One message of a conversation."""

    role: Role
    content: str | None = Field(default=None, description="The text; null for a bare tool call.")
    tool_calls: list[ToolCall] = Field(
        default_factory=list, description="Tool calls an assistant message asks for."
    )
    tool_call_id: str | None = Field(
        default=None, description="On a tool message: the call it answers."
    )
    name: str | None = Field(default=None, description="On a tool message: the tool's name.")


class ToolDefinition(BaseModel):
    """A function tool offered to the model."""

    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema of the arguments.",
    )


class Usage(BaseModel):
    """Tokens one call used, as the provider counted them."""

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)


class ChatRequest(BaseModel):
    """What a model node is called with (its Inputs)."""

    messages: list[ChatMessage] = Field(description="The conversation so far, oldest first.")
    tools: list[ToolDefinition] = Field(
        default_factory=list, description="Function tools the model may call."
    )
    response_schema: dict[str, Any] | None = Field(
        default=None,
        description="A JSON Schema the answer must follow (structured output); null for text.",
    )
    stream: bool = Field(
        default=False, description="Stream tokens as run events while the answer arrives."
    )


class ChatReply(BaseModel):
    """What a model node answers (its Outputs)."""

    message: ChatMessage = Field(description="The assistant's message.")
    stop_reason: StopReason = Field(description="Why the model stopped.")
    usage: Usage = Field(default_factory=Usage, description="Tokens used by this call.")
    model: str = Field(description="The model that answered, as the provider names it.")
    provider: str = Field(description="openai, anthropic or bedrock.")
    parsed: JsonValue = Field(
        default=None, description="With response_schema: the answer parsed as JSON."
    )
