"""``ivr`` route: run one flow by name and hand the choice to the dialplan.

For trying a flow from any extension without the routing step::

    exten => 7001,1,AGI(agi://127.0.0.1:4573/ivr?flow=main)   ; or .../ivr,main
     same => n,Verbose(1,IVR ${CC_IVR_ACTION} ${CC_CATEGORY} via ${CC_IVR_PATH})
     same => n,Queue(${CC_QUEUE})

Sets CC_CATEGORY (consultation/complaint/... or empty), CC_QUEUE (the queue the flow
names, else settings.default_queue), CC_IVR_ACTION (queue/voicemail/callback/hangup)
and CC_IVR_PATH (the path, comma-separated).
"""

from __future__ import annotations

import re

from callcenter.agi import variables as V
from callcenter.agi.channel import AGIChannel
from callcenter.agi.context import AGIContext
from callcenter.agi.flow_runner import run_flow
from callcenter.agi.registry import Route
from callcenter.config import Settings
from callcenter.ivr.flow import FlowError

_FLOW_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def fallback_variables(settings: Settings) -> dict[str, str]:
    return {V.CATEGORY: "", V.QUEUE: settings.default_queue, V.IVR_ACTION: "queue", V.IVR_PATH: ""}


def flow_name(channel: AGIChannel) -> str:
    """``?flow=main``, a bare ``?main``, or the first AGI argument."""
    request = channel.request
    name = request.query.get("flow", "")
    if not name and len(request.query) == 1:
        (key, value), = request.query.items()
        name = key if value == "" else ""
    if not name and request.args:
        name = request.args[0]
    if not _FLOW_NAME.match(name):
        raise FlowError(f"ivr route: no usable flow name in {request.env.get('network_script', '')!r} "
                        "(use agi://host/ivr?flow=<name> or AGI(...,<name>))")
    return name


async def ivr(channel: AGIChannel, ctx: AGIContext) -> None:
    outcome = await run_flow(channel, ctx.settings, flow_name(channel))
    ctx.log.info("ivr %s: %s %s via %s", flow_name(channel), outcome.action, outcome.category,
                 outcome.path)
    await channel.set_variables({
        V.CATEGORY: outcome.category,
        V.QUEUE: outcome.queue or ctx.settings.default_queue,
        V.IVR_ACTION: outcome.action,
        V.IVR_PATH: ",".join(outcome.path),
    })


ROUTE = Route("ivr", ivr, fallback=fallback_variables)
