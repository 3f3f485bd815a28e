"""Call-center system for Asterisk: routing, IVR, screen-pop, tickets, QA and surveys."""

__version__ = "0.1.0"
