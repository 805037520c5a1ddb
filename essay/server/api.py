"""The machine doors: ``POST /hooks/github|gitlab|gitea`` (signed pushes) and
``/api/jobs`` (``Authorization: Bearer`` tokens, for CI). Neither uses a browser session,
so neither needs a CSRF token; each authenticates every request itself."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from essay.errors import EssayError
from essay.server import webhooks
from essay.server.actions import ACTIONS, check, summary
from essay.server.app import TokenUser, shared

api = Blueprint("api", __name__)


@api.route("/hooks/<provider>", methods=["POST"])
def hook(provider):
    if provider not in webhooks.PROVIDERS:
        abort(404)
    sh = shared()
    try:
        secret = sh.settings.secret()
    except EssayError as e:
        return jsonify(error=str(e)), 403
    if not secret:
        return jsonify(error="no webhook secret: set ESSAY_WEBHOOK_SECRET or [server] "
                             "secret_file"), 403
    body = request.get_data(cache=False)
    refused = webhooks.verify(provider, secret, request.headers, body)
    if refused:
        return jsonify(error="missing signature" if refused == 401 else "bad signature"), \
            refused
    try:
        push = webhooks.parse(provider, request.headers, body)
    except ValueError as e:
        return jsonify(error=f"not a push payload: {e}"), 400
    if push.event != "push":
        return jsonify(ignored=f"event {push.event or '(none)'} is not a push"), 200
    if not push.delivery:
        return jsonify(error="no delivery id header"), 400
    if not sh.store.first_delivery(push.delivery):
        return jsonify(ignored=f"delivery {push.delivery} was seen before"), 200
    if push.branch != sh.settings.branch:
        return jsonify(ignored=f"push to {push.ref}, not to branch {sh.settings.branch}"), 200
    env = sh.settings.environment or ""
    text = (f"push {push.after[:12]} to {sh.settings.branch}: "
            + ("test, " if sh.settings.test else "") + "build, publish, deploy into the idle "
            f"colour{' of ' + env if env else ''}" + (", flip" if sh.settings.flip else ""))
    job = sh.submit("pipeline", env, {"after": push.after, "ref": push.ref}, text,
                    f"webhook:{push.delivery}")
    return jsonify(job=job.id), 202


def _token() -> TokenUser:
    auth = request.headers.get("Authorization", "")
    token = shared().store.token(auth[len("Bearer "):].strip()) \
        if auth.startswith("Bearer ") else None
    if token is None:
        abort(401)
    return TokenUser(token)


@api.route("/api/jobs", methods=["POST"])
def api_submit():
    user = _token()
    data = request.get_json(silent=True) or {}
    kind, env = str(data.get("kind", "")), str(data.get("env", ""))
    if kind not in ACTIONS or env not in shared().environments():
        return jsonify(error=f"kind must be one of {', '.join(ACTIONS)}; env one of "
                             f"{', '.join(shared().environments()) or '(default)'}"), 400
    if not user.may(ACTIONS[kind].role):
        abort(403)
    from essay.server.views import quiet_ctx
    from essay.status import collect

    try:
        ctx = quiet_ctx(env)
        params = check(ctx, kind, {k: str(v) for k, v in data.items()})
        text = summary(ctx.cfg, kind, params, collect(ctx, web=False)[1], env)
    except EssayError as e:
        return jsonify(error=str(e)), 400
    job = shared().submit(kind, env, params, text, user.name)
    return jsonify(job=job.id, summary=text), 202


@api.route("/api/jobs/<int:job_id>")
def api_job(job_id):
    _token()
    store = shared().store
    j = store.job(job_id) or abort(404)
    return jsonify(id=j.id, kind=j.kind, env=j.env, state=j.state, outcome=j.outcome,
                   who=j.who, worker=j.worker, created=j.created, started=j.started,
                   finished=j.finished, log=[x.text for x in store.lines(job_id)])


@api.route("/api/jobs/<int:job_id>/cancel", methods=["POST"])
def api_cancel(job_id):
    status, text = shared().cancel(job_id, _token())
    return jsonify(**({"ok": text} if status == 200 else {"error": text})), status
