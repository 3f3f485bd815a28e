"""The QA pages (质检): samples and assignments, the inspector's page for one call (player,
details, ticket, scorecard, comments pinned to a moment), recordings served with range
requests, agents' own scores and appeals, supervisors' decisions, QA reports.

Modules: ``blueprint`` holds ``bp``; ``media`` serves recordings; ``calls`` is the call
page, scoring, comments and appeals; ``samples`` the list, draws and plans; ``reports`` the
QA reports and their exports; ``admin`` the scorecard templates.
"""

from __future__ import annotations

from callcenter.web.qa import admin, calls, media, reports, samples  # noqa: F401  (routes register on bp)
from callcenter.web.qa.blueprint import bp

__all__ = ["bp"]
