"""``route_call``: every hotline call, before the queue.

    AGI(agi://callcenter:4573/route_call,${CHANNEL(linkedid)}[,${RECORDING_FILE}])

Reads the call from the AGI header, plans the route (reads only: two indexed queries
and the cached configuration), runs the line's IVR flow if it has one, decides, and
hands the decision to the dialplan as channel variables (callcenter/agi/variables.py),
``CC_ROUTE_DONE=1`` last: the dialplan trusts a decision only when that is set. Only
then is the calls row written, behind the route (``ctx.record``): routing never waits
on a write, and a row the database refuses now is written later from the journal. All
rules live in ``callcenter.services.calls.routing``; this module only moves data
between the channel and the service.

Failures: a caller who hangs up gets a consistent calls row (status hung_up, the IVR
path so far) and the session ends quietly. A broken IVR flow is logged and the call is
routed without it. Header lines that arrive after the header (an empty line forged by
a caller name) make the route decide again without the dialled number or arguments.
Anything else (database down or over budget while planning) falls to the registry's
failure policy, which sets ``fallback_decision`` variables — the line's queue when the
configuration was cached before, else the default queue.
"""

from __future__ import annotations

import re
from dataclasses import replace

from callcenter.agi.channel import AGIChannel, AGIHangup
from callcenter.agi.context import AGIContext
from callcenter.agi.protocol import AGIRequest
from callcenter.agi.registry import Route
from callcenter.agi.variables import decision_variables
from callcenter.services.calls import routing
from callcenter.services.calls.routing import IvrOutcome, RouteDecision, RouteRequest

# Header keys Asterisk writes after agi_calleridname: a newline forged into the caller
# name can fake them, and the parser keeps the first (forged) value.
_FORGEABLE = ("dnid", "extension", "arg_")


def route_request(request: AGIRequest, log=None) -> RouteRequest:
    """The routing request from the AGI header, trusting only what a caller cannot forge."""
    uniqueid = request.get("uniqueid")
    args = request.args
    dialled = request.get("extension")
    if not re.search(r"\d", dialled):          # "s" and friends: the DID is in agi_dnid
        dialled = request.get("dnid")
    linkedid = args[0].strip() if args and args[0].strip() else uniqueid
    recording_file = args[1].strip() if len(args) > 1 else ""
    if request.anomalies:
        forged = [a for a in request.anomalies if any(key in a for key in _FORGEABLE)] \
            or request.anomalies
        if log is not None:
            log.warning("AGI header anomalies %s: not trusting the dialled number or arguments", forged)
        dialled, linkedid, recording_file = "", uniqueid, ""
    return RouteRequest(
        uniqueid=uniqueid,
        linkedid=linkedid,
        channel=request.get("channel"),
        dialled=dialled,
        caller_number=request.get("callerid"),
        caller_name=request.get("calleridname"),
        recording_file=recording_file,
    )


async def _fallback(channel: AGIChannel, ctx: AGIContext) -> None:
    request = channel.request
    dialled = "" if request.anomalies else (request.get("extension") or request.get("dnid"))
    decision = routing.fallback_decision(ctx.settings, dialled)
    await channel.set_variables(decision_variables(decision))


async def route_call(channel: AGIChannel, ctx: AGIContext) -> None:
    request = route_request(channel.request, ctx.log)
    anomalies = len(channel.request.anomalies)
    # Reads only (a failure here falls to the registry's fallback route).
    plan = await ctx.run_in_transaction(routing.plan_route, ctx.settings, request)
    ivr: IvrOutcome | None = None
    decision: RouteDecision | None = None
    try:
        if plan.ivr_flow:
            ivr = await _run_ivr(channel, ctx, plan.ivr_flow)
        if ivr is not None and ivr.action == "hangup":
            # The flow ends the call (e.g. "press 9 to hang up"): hang up, then record.
            await channel.hangup()
            await ctx.record(routing.hangup_record(plan, ivr, side="ivr"))
            return
        if len(channel.request.anomalies) > anomalies:
            # Header lines showed up after the header (a forged empty line): decide
            # again without trusting what the caller could have forged.
            plan = await ctx.run_in_transaction(routing.plan_route, ctx.settings,
                                                route_request(channel.request, ctx.log))
        decision = replace(routing.decide(plan, ctx.settings, ivr), pop_key=plan.pop_key)
        await channel.set_variables(decision_variables(decision))
    except AGIHangup as exc:
        partial = ivr or IvrOutcome(path=list(getattr(exc, "ivr_path", None) or []), action="hangup")
        if decision is not None:
            await ctx.record(routing.route_record(plan, decision, ivr))
        await ctx.record(routing.hangup_record(plan, partial))
        ctx.log.info("caller hung up during route_call (IVR path %s)", partial.path)
        return
    # The caller has the route: the row is written behind it (callcenter.agi.recorder).
    await ctx.record(routing.route_record(plan, decision, ivr))


async def _run_ivr(channel: AGIChannel, ctx: AGIContext, flow: str) -> IvrOutcome:
    """Run the flow; a broken flow (missing file, bad prompt) must not cost the call
    its route, so it is logged and the call goes on as if the line had no IVR."""
    from callcenter.agi.flow_runner import run_flow
    from callcenter.ivr.flow import FlowError

    try:
        return await run_flow(channel, ctx.settings, flow)
    except AGIHangup:
        raise
    except Exception as exc:  # noqa: BLE001 - any IVR failure still routes the call
        if isinstance(exc, FlowError):
            # The site's flow files (missing, invalid): one line per call says what to fix.
            ctx.log.error("IVR flow %r failed; routing without it: %s (check with `callcenter ivr check`)",
                          flow, exc)
        else:
            ctx.log.exception("IVR flow %r failed; routing without it", flow)
        return IvrOutcome(path=[*(getattr(exc, "ivr_path", None) or []), "error"], action="queue")


ROUTE = Route("route_call", route_call, fallback=_fallback)
