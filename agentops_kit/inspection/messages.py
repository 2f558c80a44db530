"""Chat messages of one step, role by role, from whichever convention recorded them.

Conventions read (attributes first, since they are structured; then the step's input/output text):

- OpenTelemetry GenAI: ``gen_ai.input.messages`` / ``gen_ai.output.messages`` (messages with ``parts``),
  ``gen_ai.system_instructions``, and the deprecated ``gen_ai.prompt`` / ``gen_ai.completion`` (JSON, or the
  flattened ``gen_ai.prompt.N.role`` / ``.content`` that OpenLLMetry writes);
- OpenInference: ``llm.input_messages.N.message.role`` / ``.content`` / ``.contents.M.message_content.text`` /
  ``.tool_calls.K.tool_call.function.name``, and ``llm.output_messages.…``;
- Langfuse and LangSmith inputs and outputs: OpenAI chat requests and responses (``messages``, ``choices``),
  the Responses API (``function_call`` items, ``output``), Gemini ``contents`` / ``parts``, LangChain
  messages and ``generations``, any-agent's ``tool.name`` / ``tool.args`` lists.

The result is plain data. Nothing is invented: a text that is not a chat stays text (``Conversation.raw_*``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # JSON text when the trace held a structure
    id: str | None = None


@dataclass(frozen=True)
class Message:
    role: str
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True)
class Conversation:
    input: tuple[Message, ...] = ()
    output: tuple[Message, ...] = ()
    input_source: str | None = None  # where the input messages came from, e.g. "llm.input_messages"
    output_source: str | None = None
    raw_input: str | None = None  # the step's input text when it held no chat messages
    raw_output: str | None = None


# LangChain message class names and type tags -> chat roles.
_LANGCHAIN_ROLE = {
    "human": "user", "humanmessage": "user", "humanmessagechunk": "user",
    "ai": "assistant", "aimessage": "assistant", "aimessagechunk": "assistant",
    "system": "system", "systemmessage": "system", "tool": "tool", "toolmessage": "tool",
    "function": "tool", "functionmessage": "tool", "chat": "user", "chatmessage": "user",
}
_FLAT = re.compile(r"^(llm\.(?:input|output)_messages|gen_ai\.(?:prompt|completion))\.(\d+)\.(.+)$")


def _json(text):
    """The JSON value of a text, or None when it is not JSON (a plain prompt stays a plain prompt)."""
    if not isinstance(text, str):
        return text
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{\"":
        return None
    try:
        return orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return None


def as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()


def _arguments(value) -> str:
    parsed = _json(value) if isinstance(value, str) else value
    if isinstance(parsed, (dict, list)):
        return as_text(parsed)
    return as_text(value)


def _tool_call(item) -> ToolCall | None:
    """A tool call in any of the shapes seen: OpenAI, GenAI parts, LangChain, Gemini, Responses, any-agent."""
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("function"), dict):  # OpenAI chat / koog
        fn = item["function"]
        return ToolCall(str(fn.get("name") or ""), _arguments(fn.get("arguments")), _id(item.get("id")))
    if isinstance(item.get("function_call"), dict):  # Gemini part
        fn = item["function_call"]
        return ToolCall(str(fn.get("name") or ""), _arguments(fn.get("args", fn.get("arguments"))), _id(fn.get("id")))
    if "tool.name" in item:  # any-agent
        return ToolCall(str(item["tool.name"]), _arguments(item.get("tool.args")))
    if item.get("type") in ("tool_call", "function_call") or ("name" in item and ("args" in item or "arguments" in item)):
        return ToolCall(str(item.get("name") or ""), _arguments(item.get("arguments", item.get("args"))),
                        _id(item.get("call_id") or item.get("id")))
    return None


def _id(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):  # Microsoft Agent Framework records [run id, call id]
        return str(value[-1]) if value else None
    return str(value)


def _content(content) -> tuple[str, list[ToolCall], str | None]:
    """(text, tool calls, tool_call_id) of a message's content: a string, a list of parts, or a structure."""
    if content is None:
        return "", [], None
    if isinstance(content, str):
        return content, [], None
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return as_text(content), [], None
    texts, calls, answered = [], [], None
    for part in content:
        if isinstance(part, str):
            texts.append(part)
            continue
        call = _tool_call(part)
        if call is not None:
            calls.append(call)
            continue
        if not isinstance(part, dict):
            texts.append(as_text(part))
            continue
        kind = part.get("type")
        if kind == "tool_call_response" or "function_response" in part:
            response = part.get("response", part.get("result", part.get("function_response")))
            answered = _id(part.get("id")) or answered
            name = part.get("name")
            texts.append(f"[{name}] {as_text(response)}" if name else as_text(response))
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part.get("content"), str):
            texts.append(part["content"])
        elif kind and kind != "text":  # an image, audio, a file: named, not dropped
            texts.append(f"[{kind}]")
        else:
            texts.append(as_text(part))
    return "\n".join(t for t in texts if t), calls, answered


def _message(item) -> Message | None:
    """One message from a dict in any known chat shape, or None when the dict is not a message."""
    if not isinstance(item, dict):
        return None
    if item.get("lc") and isinstance(item.get("kwargs"), dict):  # LangChain serialised object
        cls = str((item.get("id") or [""])[-1]).lower()
        return _message({**item["kwargs"], "role": _LANGCHAIN_ROLE.get(cls, cls or "message")})
    kind = str(item.get("type") or "").lower()
    if kind == "function_call":  # OpenAI Responses API item
        return Message("assistant", "", (_tool_call(item),))
    if kind == "function_call_output":
        return Message("tool", as_text(item.get("output")), (), _id(item.get("call_id")))
    role = item.get("role")
    if role is None and kind in _LANGCHAIN_ROLE:
        role = _LANGCHAIN_ROLE[kind]
    if role is None and "tool.name" in item:
        return Message("assistant", "", (_tool_call(item),))
    if role is None or not ("content" in item or "parts" in item or "tool_calls" in item or "text" in item):
        return None
    role = _LANGCHAIN_ROLE.get(str(role).lower(), str(role)) if str(role).lower() in ("human", "ai") else str(role)
    body = item.get("parts", item.get("content", item.get("text")))
    text, calls, answered = _content(body)
    extra = item.get("tool_calls") or (item.get("additional_kwargs") or {}).get("tool_calls") or []
    calls += [c for c in (_tool_call(t) for t in extra if isinstance(extra, list)) if c is not None]
    if isinstance(item.get("function_call"), dict):
        calls.append(_tool_call({"function": item["function_call"]}))
    return Message(role, text, tuple(calls), _id(item.get("tool_call_id")) or answered)


def messages_of(value) -> tuple[tuple[Message, ...], str] | None:
    """(messages, shape) when ``value`` (parsed JSON) holds a chat, else None."""
    if isinstance(value, list):
        if value and all(isinstance(v, list) for v in value):  # LangChain chat-model inputs: [[message, ...]]
            return messages_of([m for batch in value for m in batch])
        found = [_message(v) for v in value]
        if value and all(m is not None for m in found):
            return tuple(found), "messages"
        return None
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("messages"), list):  # OpenAI / LangSmith request, agno
        got = messages_of(value["messages"])
        if got:
            system = value.get("system") or value.get("instructions")
            head = (Message("system", as_text(system)),) if isinstance(system, str) and system else ()
            return head + got[0], "request messages"
        if all(isinstance(v, str) for v in value["messages"]):
            return tuple(Message("message", v) for v in value["messages"]), "request messages"
    if isinstance(value.get("choices"), list):  # OpenAI chat completion
        out = [_message(c.get("message") or c.get("delta")) for c in value["choices"] if isinstance(c, dict)]
        if out and all(m is not None for m in out):
            return tuple(out), "choices"
    if "contents" in value:  # Gemini request
        contents = value["contents"]
        system = (value.get("config") or {}).get("system_instruction") if isinstance(value.get("config"), dict) else None
        head = (Message("system", as_text(system)),) if system else ()
        if isinstance(contents, str):
            return head + (Message("user", contents),), "contents"
        got = messages_of(contents)
        if got:
            return head + got[0], "contents"
    if isinstance(value.get("content"), dict) and "parts" in value["content"]:  # Gemini response
        msg = _message(value["content"])
        if msg:
            return (msg,), "candidate"
    if isinstance(value.get("candidates"), list):
        out = [_message(c.get("content")) for c in value["candidates"] if isinstance(c, dict)]
        if out and all(m is not None for m in out):
            return tuple(out), "candidates"
    if isinstance(value.get("output"), list) and value.get("object") == "response":  # OpenAI Responses
        out = []
        for item in value["output"]:
            if isinstance(item, dict) and item.get("type") == "message":
                out.append(Message(str(item.get("role") or "assistant"), _content(item.get("content"))[0]))
            elif isinstance(item, dict) and item.get("type") == "function_call":
                out.append(_message(item))
        if out:
            return tuple(out), "response output"
    if isinstance(value.get("generations"), list):  # LangChain LLMResult
        out = []
        for gen in value["generations"]:
            for g in (gen if isinstance(gen, list) else [gen]):
                if isinstance(g, dict):
                    msg = _message(g.get("message")) if g.get("message") else None
                    out.append(msg or Message("assistant", as_text(g.get("text"))))
        if out:
            return tuple(out), "generations"
    msg = _message(value)
    if msg is not None:
        return (msg,), "message"
    return None


def _flattened(attrs: dict, prefix: str) -> tuple[Message, ...]:
    """Messages from flattened attributes: ``llm.input_messages.N.message.*`` or ``gen_ai.prompt.N.*``."""
    found: dict[int, dict] = {}
    for key, value in attrs.items():
        if not key.startswith(prefix + "."):
            continue
        hit = _FLAT.match(key)
        if hit and hit.group(1) == prefix:
            rest = hit.group(3)
            found.setdefault(int(hit.group(2)), {})[rest.removeprefix("message.")] = value
    out = []
    for _, fields in sorted(found.items()):
        parts = sorted((k for k in fields if k.startswith("contents.") and k.endswith("message_content.text")),
                       key=lambda k: int(k.split(".")[1]))
        text = fields.get("content")
        text = as_text(text) if text is not None else "\n".join(as_text(fields[k]) for k in parts)
        calls: dict[int, dict] = {}
        for key, value in fields.items():
            if key.startswith("tool_calls."):
                index, _, name = key.removeprefix("tool_calls.").partition(".")
                calls.setdefault(int(index), {})[name.removeprefix("tool_call.")] = value
        tool_calls = tuple(ToolCall(str(c.get("function.name") or c.get("name") or ""),
                                    _arguments(c.get("function.arguments", c.get("arguments"))), _id(c.get("id")))
                           for _, c in sorted(calls.items()))
        if isinstance(fields.get("content"), list) and not tool_calls:  # koog: tool calls held as content
            text, listed, _ = _content(fields["content"])
            tool_calls = tuple(listed)
        out.append(Message(str(fields.get("role") or "message"), text, tool_calls,
                           _id(fields.get("tool_call_id"))))
    return tuple(out)


def _from_attributes(attrs: dict, side: str) -> tuple[tuple[Message, ...], str] | None:
    keys = (("gen_ai.input.messages", "gen_ai.prompt") if side == "input"
            else ("gen_ai.output.messages", "gen_ai.completion"))
    for key in keys:
        if key in attrs:
            got = messages_of(_json(attrs[key]) if isinstance(attrs[key], str) else attrs[key])
            if got:
                return got[0], key
    for prefix in (("llm.input_messages", "gen_ai.prompt") if side == "input"
                   else ("llm.output_messages", "gen_ai.completion")):
        flat = _flattened(attrs, prefix)
        if flat:
            return flat, prefix
    return None


def _from_text(text: str | None, side: str) -> tuple[tuple[Message, ...], str] | None:
    value = _json(text)
    if value is None:
        return None
    got = messages_of(value)
    if got:
        return got
    if side == "output" and isinstance(value, dict) and isinstance(value.get("text"), str):
        return (Message("assistant", value["text"]),), "text"  # OpenInference's {"text", "finish_reason"}
    return None


def step_messages(step: dict) -> Conversation:
    """The chat of one step (a row of the steps table as a dict: ``input``, ``output``, ``attributes``)."""
    attrs = step.get("attributes")
    attrs = (_json(attrs) if isinstance(attrs, str) else attrs) or {}
    if not isinstance(attrs, dict):
        attrs = {}
    sides = {}
    for side in ("input", "output"):
        got = _from_attributes(attrs, side)
        if got is None:
            text_got = _from_text(step.get(side), side)
            got = (text_got[0], f"{side} ({text_got[1]})") if text_got else None
        sides[side] = got
    system = attrs.get("gen_ai.system_instructions")
    head: tuple[Message, ...] = ()
    if system is not None:
        parsed = _json(system) if isinstance(system, str) else system
        head = (Message("system", _content(parsed if parsed is not None else system)[0]),)
    inp, out = sides["input"], sides["output"]
    return Conversation(
        input=head + (inp[0] if inp else ()), output=out[0] if out else (),
        input_source=inp[1] if inp else None, output_source=out[1] if out else None,
        raw_input=None if inp else step.get("input"), raw_output=None if out else step.get("output"),
    )
