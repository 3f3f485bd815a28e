"""``survey`` route: the follow-up call (回访) the scheduler originated, once the customer answers.

Dialplan (asterisk_conf/extensions.conf)::

    [survey]
    exten => s,1,NoOp(Follow-up survey ${CC_SURVEY_ID})
     same => n,AGI(${CALLCENTER_AGI}/survey,${CC_SURVEY_ID})

The argument (or the channel's ``CC_SURVEY_ID``) is the survey ATTEMPT's id. The route
marks the attempt answered at once (crash recovery then knows the customer was
reached), runs the plan's flow (``ivr_flows/survey.yaml``: the rulebook's script, keys
1 满意 · 2 一般 · 3 不满意), offers a recorded comment after a 不满意, and stores the
answers — also when the customer hangs up half-way (then the attempt is "hung_up" and
retried). A dissatisfied answer reopens the ticket and flags the call for QA
(``services/surveys/answers``).
"""

from __future__ import annotations

import asyncio

from callcenter.agi.channel import AGIChannel, AGIHangup
from callcenter.agi.context import AGIContext
from callcenter.agi.dbwork import RouteBudgetExceeded, in_session
from callcenter.agi.flow_runner import PROMPT_ALLOWANCE_S, play_prompt, run_flow
from callcenter.agi.registry import Route
from callcenter.db import utcnow
from callcenter.services.surveys import answers

COMMENT_MAX_MS = 20000      # below agi_command_timeout_s: a silent line (no RTP) ends it too
COMMENT_SILENCE_S = 3
# Prompts this route plays besides the flow's own menu: survey.yaml defines them (checked by
# `callcenter ivr check`).
REQUIRED_PROMPTS = ("sv_comment_offer", "sv_comment_done", "sv_thanks")


async def _attempt_id(channel: AGIChannel) -> int | None:
    text = channel.request.args[0] if channel.request.args else ""
    if not text.strip().isdigit():
        text = await channel.get_variable("CC_SURVEY_ID") or ""
    return int(text) if text.strip().isdigit() else None


async def survey(channel: AGIChannel, ctx: AGIContext) -> None:
    attempt_id = await _attempt_id(channel)
    if attempt_id is None:
        ctx.log.error("survey route without an attempt id (CC_SURVEY_ID); hanging up")
        await channel.hangup()
        return
    uniqueid, name = channel.request.get("uniqueid"), channel.request.get("channel")
    flow, questions = await _store(ctx, answers.start_call, attempt_id, uniqueid=uniqueid, channel=name,
                                   now=utcnow())
    path: list[str] = []
    comment = ""
    completed = False
    try:
        outcome = await run_flow(channel, ctx.settings, flow)
        path = outcome.path
        if answers.overall(answers.answers_from_path(path, questions), questions) == answers.DISSATISFIED:
            comment = await _comment(channel, ctx, uniqueid)
            await play_prompt(channel, ctx.settings, "sv_comment_done")
        completed = True
        if comment:
            await play_prompt(channel, ctx.settings, "sv_thanks")
    except AGIHangup as exc:
        path = getattr(exc, "ivr_path", None) or path
        raise
    finally:
        await _store(ctx, answers.record_result, ctx.settings, attempt_id, path=path, completed=completed,
                     uniqueid=uniqueid, channel=name, comment_file=comment, now=utcnow())
    await channel.hangup()


async def _store(ctx: AGIContext, fn, *args, **kw):
    """Run ``fn(session, ...)`` under the route budget; when the server sheds or the budget
    runs out, write anyway, off the budget: a customer's answer is not dropped to keep
    routing fast (the customer is not waiting on a queue here). ``fn`` is idempotent."""
    try:
        return await ctx.run_in_session(fn, *args, **kw)
    except RouteBudgetExceeded as exc:
        ctx.log.warning("survey write over the route budget (%s); writing it without the budget", exc)
        return await asyncio.to_thread(in_session, ctx.engine, fn, args, kw)


async def _comment(channel: AGIChannel, ctx: AGIContext, uniqueid: str) -> str:
    target = answers.comment_target(ctx.settings, uniqueid)
    await play_prompt(channel, ctx.settings, "sv_comment_offer")
    if ctx.settings.agi_guard_s > 0:
        await channel.guard(ctx.settings.agi_guard_s + COMMENT_MAX_MS / 1000 + PROMPT_ALLOWANCE_S)
    reply = await channel.command("RECORD FILE", target[0], "wav", "#", COMMENT_MAX_MS, 0, "BEEP",
                                  f"s={COMMENT_SILENCE_S}")
    if reply.result == "-1":
        if reply.data == "hangup":
            raise AGIHangup("customer hung up while leaving a comment")
        ctx.log.error("RECORD FILE %s failed: %s", target[0], reply.raw)
        return ""
    return target[1]


ROUTE = Route("survey", survey, fallback=None)
