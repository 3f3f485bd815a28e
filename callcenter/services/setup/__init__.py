"""The site's configuration: hotlines and queues, opening hours, the business calendar
and duty shifts, and the snapshot of them that routing reads on every call."""
