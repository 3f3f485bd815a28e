"""The web panel (Flask): agents, QA inspectors, supervisors and admins.

``create_app(settings=None, bus=None)`` builds the application the way the Flask
tutorial does: one blueprint per role, configuration passed in (a ``Settings`` or, as
``test_config``, a dict of settings fields), and site overrides for Flask itself from
``instance/config.py`` or ``CALLCENTER_FLASK_*`` environment variables.

For other areas that add views:
- extend ``base.html`` (blocks ``title``, ``content``, ``scripts``; no inline script:
  put JavaScript in ``static/`` and load it with ``<script src defer>``);
- guard every view with ``callcenter.web.roles.roles_required(...)`` (or ``public``);
  the access-matrix test rejects a view without a rule;
- mark a view that serves an event stream with ``callcenter.web.sse.event_stream``: its
  requests do not count as activity for idle expiry;
- keep database queries in ``callcenter.services``: a view parses the request, calls a
  service and renders;
- use ``callcenter.web.context.unit_of_work()`` for the database and ``panel()`` for
  settings and the bus.
The ticket views live in ``callcenter.web.tickets`` (blueprint ``bp``). The screen-pop
links to ``tickets.new`` with the query parameters ``customer_id``, ``linkedid``,
``phone`` and ``category``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from callcenter.bus import make_bus
from callcenter.bus.core import EventBus
from callcenter.config import Settings, get_settings
from callcenter.labels import AGENT_STATUSES, ROLES, label
from callcenter.services.people.throttle import LoginThrottle
from callcenter.web import security
from callcenter.web.context import Panel
from callcenter.web.login import login_manager
from callcenter.web.roles import public
from callcenter.web.sse import StreamRegistry, stream_limit

csrf = CSRFProtect()


def create_app(settings: Settings | Mapping[str, Any] | None = None, bus: EventBus | None = None,
               *, instance_path: str | os.PathLike | None = None) -> Flask:
    if settings is None:
        settings = get_settings()
    elif isinstance(settings, Mapping):
        settings = Settings(**settings)
    app = Flask(__name__, instance_path=str(Path(instance_path or "instance").resolve()),
                instance_relative_config=True)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("CALLCENTER_FLASK")
    security.configure(app, settings)
    if settings.web_proxy_hops:
        # Behind a reverse proxy every request comes from the proxy: the sign-in throttle
        # and the audit log need the client's address, which the proxy adds to
        # X-Forwarded-For (and the scheme, for redirects and Secure cookies).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.web_proxy_hops, x_proto=settings.web_proxy_hops)

    app.extensions["callcenter"] = Panel(
        settings=settings,
        bus=bus if bus is not None else make_bus(settings),
        streams=StreamRegistry(stream_limit(settings.web_threads)),
        throttle=LoginThrottle(settings.login_max_failures, settings.login_lockout_s),
    )
    csrf.init_app(app)

    from callcenter.web import account, admin, agent, auth, call_controls, callbacks, customers, main, nav, qa, reports
    from callcenter.web import speech as speech_web
    from callcenter.web import supervisor, surveys, tickets, wallboard

    login_manager.init_app(app)
    for module in (main, auth, agent, customers, callbacks, tickets, supervisor, wallboard, reports, qa, admin,
                   account, call_controls, surveys, speech_web):
        app.register_blueprint(module.bp)

    _mark_static_public(app)
    _register_error_pages(app)
    app.jinja_env.globals["has_endpoint"] = lambda endpoint: endpoint in app.view_functions
    app.jinja_env.globals["nav_links"] = nav.links
    app.jinja_env.globals["role_label"] = lambda role: label(ROLES, role)
    app.jinja_env.globals["agent_status_label"] = lambda status: label(AGENT_STATUSES, status)
    return app


def _mark_static_public(app: Flask) -> None:
    """CSS and JavaScript are served to anyone (the sign-in page needs them)."""
    send = app.view_functions["static"]

    def static(filename: str):
        return send(filename=filename)

    app.view_functions["static"] = public(static)


def _register_error_pages(app: Flask) -> None:
    def wants_json() -> bool:
        return request.path.startswith("/api/")

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        message = "表单已过期，请刷新页面后重试 (the form expired; reload the page)"
        if wants_json():
            return jsonify(error=message), 400
        return render_template("error.html", code=400, message=message), 400

    for code, message in ((403, "无权访问 (forbidden for your role)"), (404, "页面不存在 (not found)"),
                          (405, "不支持的请求 (method not allowed)"), (429, "请求过多 (too many requests)")):
        def handler(exc, code=code, message=message):
            if wants_json():
                return jsonify(error=message), code
            return render_template("error.html", code=code, message=message), code

        app.register_error_handler(code, handler)
