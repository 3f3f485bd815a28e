"""``after_hours`` route: closed (or nobody answered) — leave a message or get a callback.

Dialplan (asterisk_conf/extensions.conf), after route_call chose CC_ROUTE=after_hours
or after Queue() returned unanswered::

    same => n(after_hours),AGI(agi://127.0.0.1:4573/after_hours,${CHANNEL(linkedid)},${QUEUESTATUS})

With an empty queue status the caller hears after_hours.yaml (closed greeting with the
opening hours); with one (TIMEOUT, JOINEMPTY, ...) no_answer.yaml ("our agents are
busy"). ``?mode=voicemail`` (or CC_ROUTE_REASON=ivr_voicemail, set when the daytime
menu's "leave a message" key was pressed) skips the menu and goes straight to the
message. Every call ends with a callback task (see ``callcenter.services.calls.after_hours``),
written even when the caller hangs up half-way; a partial message is kept when it
holds audio.
"""

from __future__ import annotations

from dataclasses import dataclass

from callcenter.agi import variables as V
from callcenter.agi.channel import AGIChannel, AGIHangup
from callcenter.agi.context import AGIContext
from callcenter.agi.flow_runner import PROMPT_ALLOWANCE_S, play_prompt, run_flow
from callcenter.agi.registry import Route
from callcenter.db import utcnow
from callcenter.ivr.flow import FlowError
from callcenter.ivr.loader import cached_flows
from callcenter.ivr.sounds import prompt_sound
from callcenter.services.calls.after_hours import (
    MESSAGE_FORMAT,
    MESSAGE_MAX_MS,
    MESSAGE_SILENCE_S,
    CallbackNumber,
    CallbackRecord,
    MessageTarget,
    callback_number,
    file_after_hours_callback,
    keep_message,
    message_target,
    prepare_message_dir,
)
from callcenter.services.calls.routing import RouteReason

FLOW = "after_hours"
NO_ANSWER_FLOW = "no_answer"
CONFIRM_TIMEOUT_MS = 5000
# Prompts this route plays besides the flow's own menu (checked by `callcenter ivr check`).
REQUIRED_PROMPTS = (
    "ah_record_intro", "ah_message_saved", "ah_callback_number", "ah_callback_confirm",
    "ah_callback_done", "ah_no_number", "ah_no_message", "ah_record_failed",
    "ah_record_failed_no_number", *(f"digit_{d}" for d in range(10)),
)


@dataclass
class _Visit:
    number: CallbackNumber | None
    queue_status: str                     # why Queue() gave up; "" when closed
    target: MessageTarget | None = None   # set once RECORD FILE was started
    record_failed: bool = False
    message_file: str = ""


async def after_hours(channel: AGIChannel, ctx: AGIContext) -> None:
    settings = ctx.settings
    request = channel.request
    uniqueid = request.get("uniqueid")
    caller = request.get("callerid")
    queue_status = request.args[1].strip() if len(request.args) > 1 else ""
    visit = _Visit(number=callback_number(caller, settings.phone_region), queue_status=queue_status)
    call_id = await _call_id(channel)
    try:
        await _converse(channel, ctx, visit)
    finally:
        # Whatever happened — hangup, broken flow file, Asterisk error — the caller
        # gets a callback task (不漏接一个电话) and a recorded message is not lost.
        if visit.target is not None:
            visit.message_file = keep_message(settings, visit.target)
        filed = await _file_callback(ctx, CallbackRecord(
            call_id=call_id, uniqueid=uniqueid, caller_number=caller, message_file=visit.message_file,
            queue_unanswered=bool(visit.queue_status), at=utcnow()))
    # Tells the dialplan the call is taken care of: a prompt file missing on the
    # Asterisk side makes AGISTATUS=FAILURE although the task was filed, and the
    # dialplan must not then send the caller to the fallback mailbox as well.
    await channel.set_variable(V.CALLBACK_TASK, filed)
    await _guard(channel, ctx, PROMPT_ALLOWANCE_S)
    await play_prompt(channel, settings, _farewell(visit))


async def _file_callback(ctx: AGIContext, record: CallbackRecord) -> str:
    """The call's callback task now, or — when the database refuses it — behind the
    route from the journal (``ctx.record``). Returns what CC_CALLBACK_TASK says: the
    task id, "pending" (journaled), "none" (anonymous, no message: nobody to call)."""
    try:
        task = await ctx.run_in_session(
            file_after_hours_callback, ctx.settings, call_id=record.call_id, uniqueid=record.uniqueid,
            caller_number=record.caller_number, message_file=record.message_file,
            queue_unanswered=record.queue_unanswered)
    except Exception as exc:  # noqa: BLE001 - the task must not be lost
        ctx.log.error("callback task not filed now (%s); kept to be filed later",
                      str(exc).splitlines()[0][:160])
        await ctx.record(record)
        return "pending"
    ctx.log.info("after hours: %s", f"callback task {task.id} ({task.reason.value})"
                 if task is not None else "anonymous caller, no message: no task")
    return str(task.id) if task is not None else "none"


async def _converse(channel: AGIChannel, ctx: AGIContext, visit: _Visit) -> None:
    settings = ctx.settings
    flow = _flow_for(ctx, visit.queue_status)
    choice = await _direct_choice(channel) or (await run_flow(channel, settings, flow)).action
    if choice not in ("voicemail", "callback"):
        return                      # hangup/queue in the flow: the callback task still follows
    if choice == "callback" and visit.number is not None:
        if await _confirm_callback(channel, ctx, visit.number):
            return
        await play_prompt(channel, settings, "ah_record_intro")
    elif visit.number is None:
        await play_prompt(channel, settings, "ah_no_number")   # told, then offered a message
    else:
        await play_prompt(channel, settings, "ah_record_intro")
    await _record(channel, ctx, visit)


def _flow_for(ctx: AGIContext, queue_status: str) -> str:
    """no_answer after an unanswered queue (after_hours when that file is absent)."""
    try:
        flows = cached_flows(ctx.settings.ivr_flows_dir)
    except FlowError:
        ctx.log.error("IVR flows unusable; filing a callback task without talking")
        raise
    if queue_status and NO_ANSWER_FLOW in flows:
        return NO_ANSWER_FLOW
    if FLOW not in flows:
        raise FlowError(f"{ctx.settings.ivr_flows_dir}: no flow named '{FLOW}'")
    return FLOW


async def _direct_choice(channel: AGIChannel) -> str | None:
    """Straight to the message (or the callback) when the caller already chose it."""
    mode = channel.request.query.get("mode", "")
    if mode in ("voicemail", "callback"):
        return mode
    reason = await channel.get_variable(V.ROUTE_REASON)
    return {RouteReason.IVR_VOICEMAIL.value: "voicemail", RouteReason.IVR_CALLBACK.value: "callback"}.get(reason)


async def _confirm_callback(channel: AGIChannel, ctx: AGIContext, number: CallbackNumber) -> bool:
    """Read the number back; 1 or silence confirms, 2 asks for a message instead."""
    settings = ctx.settings
    await _guard(channel, ctx, PROMPT_ALLOWANCE_S * 2 + len(number.spoken) * 2 + CONFIRM_TIMEOUT_MS / 1000)
    digit = await play_prompt(channel, settings, "ah_callback_number", "12")
    for d in number.spoken:
        if digit:
            break
        digit = await play_prompt(channel, settings, f"digit_{d}", "12")
    if not digit:
        reply = await channel.get_data(prompt_sound(settings, "ah_callback_confirm"),
                                       CONFIRM_TIMEOUT_MS, 1)
        digit = reply.digits
    return digit != "2"


async def _record(channel: AGIChannel, ctx: AGIContext, visit: _Visit) -> None:
    target = message_target(ctx.settings, channel.request.get("uniqueid"))
    prepare_message_dir(target)
    visit.target = target
    await _guard(channel, ctx, MESSAGE_MAX_MS / 1000 + PROMPT_ALLOWANCE_S)
    # RECORD FILE <file> <format> <escape> <timeout> <offset> BEEP s=<silence>
    reply = await channel.command("RECORD FILE", target.record_path, MESSAGE_FORMAT, "#",
                                  MESSAGE_MAX_MS, 0, "BEEP", f"s={MESSAGE_SILENCE_S}")
    if reply.result != "-1":
        return                      # '#' (dtmf), max time or silence (timeout)
    if reply.data == "hangup":
        raise AGIHangup("caller hung up while leaving a message")
    # (writefile): Asterisk cannot write there (permissions, disk full).
    ctx.log.error("RECORD FILE %s failed: %s", target.record_path, reply.raw)
    visit.record_failed = True


async def _guard(channel: AGIChannel, ctx: AGIContext, step_s: float) -> None:
    """Keep the dialplan's limit on this AGI ahead of the step about to run."""
    if ctx.settings.agi_guard_s > 0:
        await channel.guard(ctx.settings.agi_guard_s + step_s)


def _farewell(visit: _Visit) -> str:
    if visit.message_file:
        return "ah_message_saved"
    if visit.record_failed:
        return "ah_record_failed" if visit.number else "ah_record_failed_no_number"
    if visit.number is None:
        return "ah_no_message"
    return "ah_callback_done"


async def _call_id(channel: AGIChannel) -> int | None:
    """CC_CALL_ID from route_call; readable even when the caller already hung up."""
    reply = await channel.command("GET VARIABLE", V.CALL_ID, dead_ok=True)
    try:
        return int(reply.data) if reply.result == "1" and reply.data else None
    except ValueError:
        return None


ROUTE = Route(FLOW, after_hours)
