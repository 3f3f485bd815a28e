"""The one scheduler process (APScheduler 3) and the jobs it runs."""
