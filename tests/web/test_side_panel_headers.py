"""The agent console opens ticket and customer pages in its side panel (an iframe of the
same origin); every other page still refuses to be framed."""

from __future__ import annotations


def test_ticket_and_customer_pages_may_be_framed_by_this_origin_only(client, auth):
    auth.login("agent")
    for path in ("/tickets/", "/customers/1"):
        response = client.get(path)
        assert response.headers["X-Frame-Options"] == "SAMEORIGIN", path
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'self'" in csp and "'none'" not in csp.split("frame-ancestors")[1].split(";")[0]
    console = client.get("/agent/")
    assert console.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in console.headers["Content-Security-Policy"]
