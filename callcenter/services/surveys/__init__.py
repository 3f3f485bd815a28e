"""Follow-up survey calls (回访): plans, calling windows, attempts and their outcomes.

Importing the package connects its receivers to the ticket signals (``requests.install``):
a closed ticket's request gets its plan, and member customers' tickets get one too."""

from callcenter.services.surveys import requests as _requests

_requests.install()
