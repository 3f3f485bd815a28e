"""Secret key, cookie flags, session lifetime and security headers.

- The secret key comes from ``settings.secret_key``; when that is empty it is generated
  once and kept in ``<instance>/secret_key`` (mode 0600), so sessions survive restarts
  and every worker on the machine signs with the same key. It never lives in the repo.
- Cookies: HttpOnly, SameSite=Lax, Secure when the site configures
  ``SESSION_COOKIE_SECURE`` (``instance/config.py`` or
  ``CALLCENTER_FLASK_SESSION_COOKIE_SECURE=true``) because it serves over HTTPS.
- Sessions end after ``settings.session_minutes`` without activity (checked on the
  server, not only by the cookie's expiry) and are refreshed by every request.
- Headers: a Content-Security-Policy that allows scripts and styles from this origin
  only (no inline script anywhere in the panel), no framing (except the ticket and
  customer pages, which the agent console opens beside the calls: by this origin
  only), no MIME sniffing, no referrer leaving the site, and no caching of pages that
  show customer data.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import Flask, Response, request

from callcenter.config import Settings
from callcenter.secret_key import load_or_create_secret

log = logging.getLogger(__name__)


CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def configure(app: Flask, settings: Settings) -> None:
    app.config["SECRET_KEY"] = settings.secret_key or app.config.get("SECRET_KEY") \
        or load_or_create_secret(app.instance_path)
    app.config.setdefault("SESSION_COOKIE_SECURE", False)
    app.config.update(
        SESSION_COOKIE_NAME="callcenter_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=settings.session_minutes),
        SESSION_REFRESH_EACH_REQUEST=True,
        # The CSRF token lives as long as the session: a console left open for a shift
        # must still be able to post.
        WTF_CSRF_TIME_LIMIT=settings.session_minutes * 60,
        WTF_CSRF_SSL_STRICT=True,
        MAX_CONTENT_LENGTH=1024 * 1024,
        JSON_AS_ASCII=False,
    )
    app.config.setdefault("SSE_HEARTBEAT_S", 15.0)
    app.config["REMEMBER_COOKIE_HTTPONLY"] = True
    app.config["REMEMBER_COOKIE_SAMESITE"] = "Lax"
    app.config["REMEMBER_COOKIE_SECURE"] = app.config["SESSION_COOKIE_SECURE"]
    app.after_request(add_security_headers)


# Pages the agent console shows in its side panel (an iframe of this origin), so the
# console - its event stream and its pops - stays open while a ticket is written.
FRAMED_BY_CONSOLE = ("/tickets/", "/customers/")
SAME_ORIGIN_FRAMING = {
    "Content-Security-Policy": CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'"),
    "X-Frame-Options": "SAMEORIGIN",
}


def add_security_headers(response: Response) -> Response:
    framed = request.path.startswith(FRAMED_BY_CONSOLE)
    for name, value in HEADERS.items():
        response.headers.setdefault(name, SAME_ORIGIN_FRAMING.get(name, value) if framed else value)
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response
