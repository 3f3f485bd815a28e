"""Customers and the people who use the panel: customer records and import, phone
numbers, panel users and their sign-in policy, agents and their console state, what
each role may see (masking) and the audit log of who saw what."""
