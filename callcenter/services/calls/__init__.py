"""A call's life in the business's terms: where it is routed (routing), what the AMI
listener learns about it (calltrack), the callback task of a caller nobody served
(callbacks, after_hours), and what the agent's screen shows when it rings (screenpop)."""
