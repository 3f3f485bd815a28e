"""Tickets (工单): the record itself, the fields per type, deadlines, the three-level
escalation, and the panel notifications it raises."""
