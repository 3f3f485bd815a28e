"""Ticket pages (工单): lists, detail with history, create (also from the console's
screen-pop), edit, close, reopen, notes; the notifications page; JSON for the console.

Views only parse the request, call one service and render: the rules live in
``callcenter.services.tickets.tickets``. Agents, supervisors and admins work on tickets; QA
inspectors read them (phone numbers masked unless their role is in
``settings.unmasked_roles``). Opening a ticket is recorded in the audit log.

The console links to ``tickets.new`` with ``customer_id``, ``linkedid``, ``phone`` and
``category`` (the IVR category; a ticket type when it names one). The same prefill is
available as JSON at ``/api/tickets/prefill`` and a ticket can be created with
``POST /api/tickets`` (JSON, ``X-CSRFToken`` header).

Modules: ``blueprint`` holds ``bp``, ``present`` turns tickets into what templates show, ``forms`` reads submitted
forms and builds form contexts, ``pages`` and ``api`` are the routes.
"""

from __future__ import annotations

from callcenter.web.tickets import api, pages  # noqa: F401  (their routes register on bp)
from callcenter.web.tickets.blueprint import bp

__all__ = ["bp"]
