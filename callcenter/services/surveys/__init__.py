"""Follow-up survey calls (回访): plans, calling windows, attempts and their outcomes."""
