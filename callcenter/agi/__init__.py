"""AGI side: the FastAGI server, the channel abstraction, and the route handlers."""
