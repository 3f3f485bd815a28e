"""Hooks other areas subscribe to (blinker signals, sent inside the caller's unit of work).

    from callcenter.services.tickets.signals import ticket_closed

    @ticket_closed.connect
    def _on_closed(ticket, *, session, survey, **_):
        ...

Receivers run synchronously in the same transaction as the change: a receiver that
raises rolls the change back, so keep them small and put slow work (a phone call)
on the scheduler. Every signal's sender is the Ticket; keyword arguments below.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# session, actor — a new ticket (after its number and deadlines are set).
ticket_created = _signals.signal("ticket-created")
# session, actor, changes ({"field": [old, new]}).
ticket_updated = _signals.signal("ticket-updated")
# session, actor, survey (the SurveyRequest or None) — closed with a resolution.
ticket_closed = _signals.signal("ticket-closed")
# session, actor (None for the system), reason.
ticket_reopened = _signals.signal("ticket-reopened")
# session, old_level, new_level, reason.
ticket_escalated = _signals.signal("ticket-escalated")
# session — the 回访 hook: a SurveyRequest was created (sender is the SurveyRequest's ticket).
survey_requested = _signals.signal("survey-requested")
