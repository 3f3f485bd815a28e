"""``route_call``: every hotline call, before the queue.

    AGI(agi://callcenter:4573/route_call,${CHANNEL(linkedid)}[,${RECORDING_FILE}])

Reads the call from the AGI header, plans the route, decides, records the calls row
and hands the decision to the dialplan as channel variables
(callcenter/agi/variables.py). A line without an IVR flow costs one unit of work
under the route budget (``routing.route_and_record``); a line with one is planned,
then the flow talks to the caller, then the decision is recorded in a second unit of
work. All rules live in ``callcenter.services.calls.routing``; this module only moves data
between the channel and the service.

Failures: a caller who hangs up gets a consistent calls row (status hung_up, the IVR
path so far) and the session ends quietly. A broken IVR flow is logged and the call
is routed without it. A decision that cannot be recorded is still sent (without call
id and pop key). Anything else (database down or over budget while planning) falls to
the registry's failure policy, which sets ``fallback_decision`` variables — the line's
queue when the configuration was cached before, else the default queue.
"""

from __future__ import annotations

import re
import threading

from callcenter.agi.channel import AGIChannel, AGIHangup
from callcenter.agi.context import AGIContext
from callcenter.agi.protocol import AGIRequest
from callcenter.agi.registry import Route
from callcenter.agi.variables import decision_variables
from callcenter.services.calls import routing
from callcenter.services.calls.routing import IvrOutcome, RouteRequest

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
    decided = _Decided()
    try:
        plan, recorded = await ctx.run_in_transaction(routing.route_and_record, ctx.settings, request,
                                                      decided.offer)
    except Exception:
        if decided.abandon():
            raise                    # no plan in time: the registry's fallback route
        # Planned and decided, but the calls row could not be written (in time).
        plan, decision = decided.plan, decided.decision
        ctx.log.exception("could not record the call; routing it anyway (%s %s)", decision.queue, decision.reason)
        recorded = decision
    ivr: IvrOutcome | None = None
    try:
        if recorded is not None:     # no IVR flow: decided and recorded already
            await channel.set_variables(decision_variables(recorded))
            return
        if plan.ivr_flow:
            ivr = await _run_ivr(channel, ctx, plan.ivr_flow)
        if ivr is not None and ivr.action == "hangup":
            # The flow ends the call (e.g. "press 9 to hang up"): record, then hang up.
            await ctx.run_in_transaction(routing.record_hangup, plan, ivr, side="ivr")
            await channel.hangup()
            return
        decision = routing.decide(plan, ctx.settings, ivr)
        decision = await _record(ctx, plan, decision, ivr)
        await channel.set_variables(decision_variables(decision))
    except AGIHangup as exc:
        partial = ivr or IvrOutcome(path=list(getattr(exc, "ivr_path", None) or []), action="hangup")
        await ctx.run_in_transaction(routing.record_hangup, plan, partial)
        ctx.log.info("caller hung up during route_call (IVR path %s)", partial.path)


class _Decided:
    """Hands the decision from the database thread to the handler before the write.

    A write that fails or overruns the budget leaves the handler with the decision
    (sent without call id); a plan that overran the budget is abandoned, so no calls
    row claims a route the caller never got (it got the fallback)."""

    __slots__ = ("_lock", "plan", "decision", "_abandoned")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.plan = self.decision = None
        self._abandoned = False

    def offer(self, plan, decision) -> bool:            # database thread
        with self._lock:
            if self._abandoned:
                return False
            self.plan, self.decision = plan, decision
            return True

    def abandon(self) -> bool:                          # event loop; True: nothing decided
        with self._lock:
            if self.decision is None:
                self._abandoned = True
            return self._abandoned


async def _record(ctx: AGIContext, plan, decision, ivr):
    """Record the call; when that fails (database down or over budget) the decision —
    already made, the caller's IVR choices included — still goes to the dialplan, only
    without a call id and pop key: better than the generic fallback route."""
    try:
        return await ctx.run_in_transaction(routing.record_route, plan, decision, ivr)
    except Exception:  # noqa: BLE001 - the caller must still get this route
        ctx.log.exception("could not record the call; routing it anyway (%s %s)",
                          decision.queue, decision.reason)
        return decision


async def _run_ivr(channel: AGIChannel, ctx: AGIContext, flow: str) -> IvrOutcome:
    """Run the flow; a broken flow (missing file, bad prompt) must not cost the call
    its route, so it is logged and the call goes on as if the line had no IVR."""
    from callcenter.agi.flow_runner import run_flow

    try:
        return await run_flow(channel, ctx.settings, flow)
    except AGIHangup:
        raise
    except Exception as exc:  # noqa: BLE001 - any IVR failure still routes the call
        ctx.log.exception("IVR flow %r failed; routing without it", flow)
        return IvrOutcome(path=[*(getattr(exc, "ivr_path", None) or []), "error"], action="queue")


ROUTE = Route("route_call", route_call, fallback=_fallback)
