"""Supervisors' figures: KPIs with published definitions and the reports built on them."""
