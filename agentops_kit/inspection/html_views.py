"""HTML of what the run inspector shows: a run's header (with the cause of a failure) and one step's detail
(chat messages role by role, tool arguments and results as JSON, attributes). Every trace text is escaped,
and all of it sits in a block where JupyterLab does not typeset dollar signs as LaTeX."""

from __future__ import annotations

import orjson

from ..rendering import esc, money, no_math
from .messages import Conversation, Message, as_text
from .run_tree import FailureCause

SHOWN_CHARS = 4000  # longer texts show their start, and the rest behind "show all"
OUTCOME_COLOURS = {"success": "#1b7837", "failure": "#b2182b", "escalated": "#d95f02", "unknown": "#7570b3"}

CSS = """<style>
.aok-step h4 { margin: 10px 0 4px; }
.aok-msg { border-left: 3px solid #ccc; margin: 4px 0; padding: 2px 8px; }
.aok-msg .aok-role { font-weight: 600; font-size: 0.85em; text-transform: uppercase; color: #555; }
.aok-msg.aok-user { border-color: #1f78b4; } .aok-msg.aok-assistant, .aok-msg.aok-model { border-color: #7570b3; }
.aok-msg.aok-system { border-color: #999; } .aok-msg.aok-tool { border-color: #1b9e77; }
.aok-pre { white-space: pre-wrap; word-break: break-word; margin: 2px 0; font-size: 0.9em; }
.aok-error { color: #b2182b; border: 1px solid #b2182b; background: #fdf0f0; padding: 6px 10px; margin: 6px 0; }
.aok-id { font-family: monospace; user-select: all; }
.aok-attrs { max-height: 320px; overflow-y: auto; }
.aok-attrs td { vertical-align: top; padding: 1px 8px 1px 0; font-size: 0.85em; }
</style>"""


def text_block(text: str | None, pretty_json: bool = False) -> str:
    """A text as an escaped preformatted block; JSON pretty-printed; a long text's rest behind "show all"."""
    if text is None or text == "":
        return "<p><i>nothing recorded</i></p>"
    if pretty_json:
        try:
            value = orjson.loads(text)
            if isinstance(value, (dict, list)):
                text = as_text(value)
        except orjson.JSONDecodeError:
            pass
    if len(text) <= SHOWN_CHARS:
        return f"<pre class='aok-pre'>{esc(text)}</pre>"
    return (f"<pre class='aok-pre'>{esc(text[:SHOWN_CHARS])}</pre><details><summary>show all "
            f"{len(text):,} characters</summary><pre class='aok-pre'>{esc(text[SHOWN_CHARS:])}</pre></details>")


def message_html(m: Message) -> str:
    role = esc(m.role)
    calls = "".join(f"<div>→ calls <b>{esc(c.name)}</b>{' <span class=aok-id>' + esc(c.id) + '</span>' if c.id else ''}"
                    f"{text_block(c.arguments, pretty_json=True) if c.arguments else ''}</div>" for c in m.tool_calls)
    answers = f" <span style='color:#777'>(answer to call {esc(m.tool_call_id)})</span>" if m.tool_call_id else ""
    body = text_block(m.text) if m.text else ("" if m.tool_calls else "<p><i>empty</i></p>")
    return (f"<div class='aok-msg aok-{esc(m.role.lower())}'><span class='aok-role'>{role}</span>{answers}"
            f"{body}{calls}</div>")


def messages_html(messages, source: str | None, title: str) -> str:
    where = f" <span style='color:#777;font-weight:normal'>({len(messages)} from {esc(source)})</span>" if source else ""
    return f"<h4>{esc(title)}{where}</h4>" + "".join(message_html(m) for m in messages)


def attributes_html(attributes: str | None) -> str:
    try:
        attrs = orjson.loads(attributes or "{}")
    except orjson.JSONDecodeError:
        return text_block(attributes)
    if not isinstance(attrs, dict) or not attrs:
        return "<p><i>no attributes</i></p>"
    rows = "".join(f"<tr><td><code>{esc(k)}</code></td><td>{text_block(as_text(v)) if isinstance(v, (dict, list)) or len(str(v)) > 120 else esc(v)}</td></tr>"
                   for k, v in sorted(attrs.items()))
    return f"<div class='aok-attrs'><table>{rows}</table></div>"


def _duration(value) -> str:
    return "no time recorded" if value is None else f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _cost(value, source) -> str:
    if value is None:
        return {"unknown": "unknown (no price for its model)", "none": "none"}.get(source or "", "unknown")
    return money(value) + (f" ({esc(source)})" if source else "")


def step_html(step: dict, conversation: Conversation | None) -> str:
    """One step: what it is, how long, what it cost, its error, its chat or its arguments and result."""
    kind = step["kind"]
    facts = [f"<b>{esc(kind)}</b>", _duration(step.get("duration_s"))]
    if step.get("model"):
        facts.append(f"model <code>{esc(step['model'])}</code>")
    if step.get("tool_name"):
        facts.append(f"tool <code>{esc(step['tool_name'])}</code>")
    if step.get("input_tokens") is not None or step.get("output_tokens") is not None:
        facts.append(f"tokens {esc(step.get('input_tokens'))} in / {esc(step.get('output_tokens'))} out")
    facts.append("cost " + _cost(step.get("cost_usd"), step.get("cost_source")))
    facts.append(f"status {esc(step.get('status'))}")
    if kind == "approval":
        facts.append(f"decision <b>{esc(step.get('approval_decision'))}</b> by {esc(step.get('approver'))}")
    parts = [f"<h3>Step {esc(step.get('name') or step.get('label'))}</h3>",
             f"<p>{' · '.join(facts)} · id <span class='aok-id'>{esc(step['step_id'])}</span></p>"]
    if step.get("error") or step.get("status") == "error":
        parts.append(f"<div class='aok-error'><b>Error:</b> {esc(step.get('error') or 'status error')}</div>")
    if conversation is not None and (conversation.input or conversation.output):
        parts.append(messages_html(conversation.input, conversation.input_source, "Input messages")
                     if conversation.input else "<h4>Input</h4>" + text_block(conversation.raw_input, True))
        parts.append(messages_html(conversation.output, conversation.output_source, "Output messages")
                     if conversation.output else "<h4>Output</h4>" + text_block(conversation.raw_output, True))
    else:
        inp, out = ("Arguments", "Result") if kind in ("tool", "action") else ("Input", "Output")
        parts.append(f"<h4>{inp}</h4>{text_block(step.get('input'), pretty_json=True)}")
        parts.append(f"<h4>{out}</h4>{text_block(step.get('output'), pretty_json=True)}")
    parts.append("<details><summary>Attributes</summary>" + attributes_html(step.get("attributes")) + "</details>")
    return no_math(CSS + "<div class='aok-step'>" + "".join(parts) + "</div>")


def run_header_html(run: dict, cause: FailureCause | None) -> str:
    """Who ran, how it ended and, for a failure, the step that failed first with its error."""
    outcome = run["outcome"] or "unknown"
    colour = OUTCOME_COLOURS.get(outcome, "#333")
    cost = "unknown" if run["cost_usd"] is None else money(run["cost_usd"])
    head = (f"<h3 style='margin:4px 0'>Run <span class='aok-id'>{esc(run['run_id'])}</span></h3>"
            f"<p><b>{esc(run['agent'])}</b> {esc(run['agent_version'] or '')} · workflow {esc(run['workflow'])} · "
            f"{esc(run['mode'])} · started {esc(run['started_at'])} UTC · {_duration(run['duration_s'])} · cost {cost}"
            f"{' (' + esc(run['cost_source']) + ')' if run['cost_usd'] is None and run['cost_source'] else ''}"
            f" · <b style='color:{colour}'>{esc(outcome)}</b></p>")
    if cause is not None:
        what = esc(cause.error_type) if cause.error_type else "an error"
        message = f": {esc(cause.message)}" if cause.message else ""
        more = (f" <span style='color:#777'>({cause.also_failed} other failed step"
                f"{'s' if cause.also_failed != 1 else ''} elsewhere in the run)</span>") if cause.also_failed else ""
        head += (f"<div class='aok-error'><b>Failed at {esc(cause.kind)} step “{esc(cause.step)}”</b> with "
                 f"<b>{what}</b>{message}{more} — click its red bar below to see what it was given.</div>")
    elif outcome == "failure":
        reason = f" The run says: {esc(run['error_type'])}." if run.get("error_type") else ""
        head += f"<div class='aok-error'>The run failed, but none of its steps recorded an error.{reason}</div>"
    return no_math(CSS + head)
