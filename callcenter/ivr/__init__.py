"""IVR flows as data (ivr_flows/*.yaml): loading, validation, and the engine that drives
them over AGI.  (CONTRACT — the route_call handler relies on exactly this.)

    from callcenter.ivr import run_flow, load_flows
    outcome = await run_flow(channel, settings, "main")   # -> services.routing.IvrOutcome

``run_flow`` raises ``callcenter.agi.channel.AGIHangup`` when the caller hangs up; the
partial path is then available as ``exc.ivr_path`` (list[str]) when the engine attaches it.
``load_flows(directory)`` validates every flow file and raises ``FlowError`` naming the
file, the node and the problem.
"""

from callcenter.ivr.engine import run_flow
from callcenter.ivr.flow import Flow, FlowError, MenuNode
from callcenter.ivr.loader import cached_flows, get_flow, load_flows
from callcenter.ivr.model import CATEGORIES

__all__ = ["CATEGORIES", "Flow", "FlowError", "MenuNode", "cached_flows", "get_flow",
           "load_flows", "run_flow"]
