"""Channel variables exchanged with the dialplan: the one place their names live.

The dialplan (asterisk_conf/extensions.conf) sets safe defaults for the ``CC_*``
routing variables *before* calling the AGI, so a call that meets a dead or slow
callcenter still reaches a queue; route_call overwrites them with its decision.
"""

from __future__ import annotations

from callcenter.services.calls.routing import RouteDecision

# --- set by route_call --------------------------------------------------------------
ROUTE = "CC_ROUTE"                # what the dialplan does next: queue | after_hours
QUEUE = "CC_QUEUE"                # Asterisk queue name for Queue()
QUEUE_PRIO = "QUEUE_PRIO"         # read by app_queue itself: higher is answered first
ROUTE_REASON = "CC_ROUTE_REASON"  # vip_line, vip_customer, repeat_caller, duty, ...
CUSTOMER_ID = "CC_CUSTOMER_ID"    # empty for an unknown caller
POP_KEY = "CC_POP_KEY"            # opaque key the agent console uses to fetch the pop
CATEGORY = "CC_CATEGORY"          # IVR category: 咨询/投诉/报修/建议/订单/人工 (as ASCII ids)
ROUTE_DONE = "CC_ROUTE_DONE"      # "1", set last: the decision above is complete
# Read by after_hours when a site's dialplan sets it; route_call does not: the calls row
# is written behind the route, and the call's key on the channel is CC_POP_KEY.
CALL_ID = "CC_CALL_ID"
TIER = "CC_TIER"                  # vip | member | ordinary | unknown
LINE_KIND = "CC_LINE_KIND"        # vip | ordinary | unknown

# --- set by the standalone ivr route (trying a flow from any extension) -----------------
IVR_ACTION = "CC_IVR_ACTION"      # queue | voicemail | callback | hangup
IVR_PATH = "CC_IVR_PATH"          # the path taken, comma separated

# --- set by after_hours ----------------------------------------------------------------
CALLBACK_TASK = "CC_CALLBACK_TASK"  # callback_tasks.id filed for this call ("none": anonymous, no message)
AFTER_HOURS_VARIABLES = (CALLBACK_TASK,)

# --- read by route_call (set by the dialplan) ------------------------------------------
# The dialplan passes ${CHANNEL(linkedid)} as the first AGI argument.

ROUTE_VARIABLES = (ROUTE, QUEUE, QUEUE_PRIO, ROUTE_REASON, CUSTOMER_ID, POP_KEY,
                   CATEGORY, TIER, LINE_KIND, ROUTE_DONE)


def decision_variables(decision: RouteDecision) -> dict[str, str]:
    """route_call's decision as the channel variables the dialplan reads, in the order
    they are sent; ``CC_ROUTE_DONE`` comes last, so a session cut half-way (a worker
    killed mid-call) leaves it unset and the dialplan keeps its own defaults."""
    return {
        ROUTE: decision.action.value,
        QUEUE: decision.queue,
        QUEUE_PRIO: str(decision.priority),
        ROUTE_REASON: decision.reason,
        CUSTOMER_ID: "" if decision.customer_id is None else str(decision.customer_id),
        POP_KEY: decision.pop_key,
        CATEGORY: decision.category,
        TIER: decision.tier or "unknown",
        LINE_KIND: decision.line_kind or "unknown",
        ROUTE_DONE: "1",                 # last: sent only once everything above was
    }
