"""The Flask app: sessions (Flask-Login), CSRF on every form (Flask-WTF), login
throttling, API tokens (``Authorization: Bearer``) and the shared state of the pages.

Why Flask: small, server-rendered pages with Jinja (which essay already uses), and
well-kept extensions for exactly the parts that must not be home-made -- sessions and
CSRF. The pages are in :mod:`essay.server.views`; the API and the webhooks in
:mod:`essay.server.api`.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import wraps

from flask import Flask, abort, current_app, redirect, request, url_for
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFProtect

from essay.server.settings import ROLES

THROTTLE = (5, 300.0)   # at most 5 failed logins per user and address in 300 s


@dataclass
class Shared:
    cfg: object
    settings: object
    store: object
    enqueue: object   # enqueue(job_id): hands a job to the queue

    def environments(self) -> list[str]:
        """The project's environments ('' = the only one, when it defines none)."""
        return list(getattr(self.cfg, "env_names", ()) or ()) or [""]

    def submit(self, kind: str, env: str, params: dict, summary: str, who: str):
        job = self.store.add_job(kind, env, params, summary, who)
        self.enqueue(job.id)
        return job

    @staticmethod
    def may_cancel(job, user) -> bool:
        """Whoever may start a job of its kind may cancel it (a push's pipeline: a
        deployer)."""
        from essay.server.actions import ACTIONS

        action = ACTIONS.get(job.kind)
        return user.may(action.role if action else "deployer")

    def cancel(self, job_id: int, user) -> tuple[int, str]:
        """Cancel a queued job for ``user`` (who may start a job of its kind: a deployer
        for a push's pipeline): (HTTP status, what happened). The next job of its
        environment is queued at once."""
        from essay.server.jobs import hand_on

        job = self.store.job(job_id)
        if job is None:
            return 404, f"no job {job_id}"
        who = user.name if isinstance(user, TokenUser) else f"user:{user.name}"
        if not self.may_cancel(job, user):
            return 403, f"{who} may not cancel a {job.kind} job"
        if not self.store.cancel(job_id, who):
            return 409, (f"job {job_id} is {self.store.job(job_id).state}: only a queued job "
                         "can be cancelled")
        self.store.log(job_id, f"cancelled by {who} before it ran: nothing was run")
        hand_on(self.store, job.env, self.enqueue)
        return 200, f"job {job_id} cancelled"


def shared() -> Shared:
    return current_app.extensions["essay"]


class TokenUser:
    """A request authenticated by an API token (``Authorization: Bearer``, API only):
    the token's name and role."""

    is_authenticated, is_active, is_anonymous = True, True, False

    def __init__(self, token):
        self.name, self.role = f"token:{token.name}", token.role

    def get_id(self):
        return None

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def need(role: str):
    """A view only users with at least ``role`` may use (403 for the others)."""
    def wrap(view):
        @wraps(view)
        def inner(*a, **kw):
            if not current_user.is_authenticated:
                return redirect(url_for("pages.login", next=request.path))
            if not current_user.may(role):
                abort(403)
            return view(*a, **kw)
        return inner
    return wrap


def secret_key(settings) -> bytes:
    """The session signing key: made once, kept 0600 in the server's data dir, so a
    restart keeps everyone logged in."""
    path = settings.data_dir / "session.key"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    return path.read_bytes()


def create_app(cfg, settings, store, enqueue) -> Flask:
    from essay.server import api, views

    app = Flask("essay.server")
    app.config.update(SECRET_KEY=secret_key(settings), WTF_CSRF_TIME_LIMIT=None,
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      MAX_CONTENT_LENGTH=5 * 1024 * 1024)
    app.extensions["essay"] = Shared(cfg, settings, store, enqueue)
    csrf = CSRFProtect(app)
    login = LoginManager(app)
    login.login_view = "pages.login"

    @login.user_loader
    def load_user(user_id):
        return store.user(user_id)

    app.register_blueprint(views.pages)
    app.register_blueprint(api.api)
    csrf.exempt(api.api)   # token-authenticated or signed: no browser session to forge
    app.jinja_env.filters["clock"] = views.clock
    return app
