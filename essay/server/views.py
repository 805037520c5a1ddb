"""The pages: login, environments, history, jobs (with their live log) and actions behind
a confirmation. Readable without JavaScript; the job page streams its log with a few
lines of it."""
from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor

from flask import (Blueprint, abort, flash, jsonify, redirect, render_template, request,
                   url_for)
from flask_login import current_user, login_required, login_user, logout_user

from essay.errors import EssayError
from essay.output import Reporter
from essay.server.actions import ACTIONS, check, summary
from essay.server.app import THROTTLE, shared

pages = Blueprint("pages", __name__)


def clock(ts) -> str:
    if not ts:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


def quiet_ctx(env: str, settings=None):
    from essay.server.jobs import context

    out = io.StringIO()
    return context(settings or shared().settings, env,
                   Reporter(quiet=True, stream=out, out=out))


def env_arg() -> str:
    env = request.values.get("env", "")
    if env not in shared().environments():
        abort(404, f"no environment {env!r}")
    return env


def env_view(env: str, settings) -> dict:
    """Everything the environments page shows for one environment (one round trip per
    host, through the functions ``es status`` and ``es history`` use)."""
    from essay import history, status

    view = {"name": env, "error": ""}
    try:
        ctx = quiet_ctx(env, settings)
        results, lbs, lb_failed = status.collect(ctx)
        live, canary = status.live_of(lbs)
        rows = history.read(ctx, 200) if lbs else {}
        last = next(iter(rows.values()), [])
        view.update(
            live=live, canary=canary, headers=status.HEADERS,
            rows=status.rows(ctx.cfg, results, lbs),
            versions={c: next((s.version(c) for s in lbs.values() if s.version(c)), "")
                      for c in ctx.cfg.colors},
            locks={h: s.lock for h, s in lbs.items() if s.lock},
            lb_failed=[f"{r.host}: {r.error}" for r in lb_failed],
            last_deploy=next((r for r in reversed(last) if r[2] == "deploy"), None),
            last_flip=next((r for r in reversed(last) if r[2] in ("flip", "rollback")), None))
    except EssayError as e:
        view["error"] = str(e)
    return view


@pages.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html")
    store = shared().store
    name = request.form.get("name", "")
    key = f"{name}|{request.remote_addr}"
    if store.failures(key, THROTTLE[1]) >= THROTTLE[0]:
        return render_template("login.html", error="too many failed logins: wait a few "
                               "minutes"), 429
    user = store.check_password(name, request.form.get("password", ""))
    if user is None:
        store.fail_login(key)
        return render_template("login.html", error="wrong name or password"), 401
    login_user(user)
    nxt = request.args.get("next", "")
    return redirect(nxt if nxt.startswith("/") and not nxt.startswith("//") else url_for(
        "pages.environments"))


@pages.route("/logout", methods=["POST"])
def logout():
    logout_user()
    return redirect(url_for("pages.login"))


@pages.route("/")
@login_required
def environments():
    envs = shared().environments()
    with ThreadPoolExecutor(max_workers=max(1, len(envs))) as pool:
        views = list(pool.map(env_view, envs, [shared().settings] * len(envs)))
    actions = {k: a for k, a in ACTIONS.items() if k != "promote" or len(envs) > 1}
    return render_template("environments.html", envs=views, actions=actions)


@pages.route("/history")
@login_required
def history_page():
    from essay import history

    env, q = env_arg(), request.args.get("q", "").strip().lower()
    error, rows = "", []
    try:
        per_host = history.read(quiet_ctx(env), int(request.args.get("lines", 200) or 200))
        rows = list(reversed(next(iter(per_host.values()), [])))
    except (EssayError, ValueError) as e:
        error = str(e)
    if q:
        rows = [r for r in rows if any(q in c.lower() for c in r)]
    return render_template("history.html", env=env, envs=shared().environments(), q=q,
                           rows=rows, columns=history.COLUMNS, error=error)


@pages.route("/jobs")
@login_required
def jobs():
    state = request.args.get("state") or None
    return render_template("jobs.html", jobs=shared().store.jobs(200, state=state),
                           state=state or "")


@pages.route("/jobs/<int:job_id>")
@login_required
def job(job_id):
    store = shared().store
    j = store.job(job_id) or abort(404)
    return render_template("job.html", job=j, lines=store.lines(job_id),
                           cancel=j.state == "queued" and shared().may_cancel(j, current_user))


@pages.route("/jobs/<int:job_id>/cancel", methods=["POST"])
@login_required
def job_cancel(job_id):
    status, text = shared().cancel(job_id, current_user)
    if status in (403, 404):
        abort(status)
    flash(text)
    return redirect(url_for("pages.job", job_id=job_id))


@pages.route("/jobs/<int:job_id>/lines")
@login_required
def job_lines(job_id):
    store = shared().store
    j = store.job(job_id) or abort(404)
    lines = store.lines(job_id, int(request.args.get("after", 0)))
    return jsonify(state=j.state, outcome=j.outcome,
                   lines=[{"id": x.id, "ts": clock(x.ts), "text": x.text} for x in lines])


def _form(kind: str, env: str, **extra):
    ctx = quiet_ctx(env)
    choices = {"versions": [], "colors": list(ctx.cfg.colors),
               "envs": [n for n in shared().environments() if n != env]}
    if kind == "deploy":
        from essay import versions

        try:
            choices["versions"] = [str(v) for v in reversed(
                versions.on_index(ctx.cfg.index_url, ctx.cfg.name))]
        except EssayError as e:   # the index is down: say so on the form
            extra.setdefault("error", str(e))
    return render_template("action.html", action=ACTIONS[kind], env=env, choices=choices,
                           **extra)


def _action(kind: str):
    """The action, if this user may start it (404 unknown, 403 not allowed)."""
    action = ACTIONS.get(kind) or abort(404)
    if not current_user.may(action.role):
        abort(403)
    return action


@pages.route("/act/<kind>", methods=["GET"])
@login_required
def action_form(kind):
    _action(kind)
    return _form(kind, env_arg())


def _checked(kind: str, env: str) -> tuple[dict, str]:
    """The form's parameters, checked, and the sentence naming what the job will change."""
    from essay.status import collect

    ctx = quiet_ctx(env)
    params = check(ctx, kind, request.form)
    _, lbs, _ = collect(ctx, web=False)
    return params, summary(ctx.cfg, kind, params, lbs, env)


@pages.route("/act/<kind>/<step>", methods=["POST"])
@login_required
def action_post(kind, step):
    """``confirm``: the page naming what will change; ``run``: queue the job (both check
    the parameters and read the lbs again: the job's summary is the state at its start)."""
    if step not in ("confirm", "run"):
        abort(404)
    action, env = _action(kind), env_arg()
    try:
        params, text = _checked(kind, env)
    except EssayError as e:
        return _form(kind, env, error=str(e)), 400
    if step == "confirm":
        return render_template("confirm.html", action=action, env=env, params=params,
                               text=text)
    job = shared().submit(kind, env, params, text, f"user:{current_user.name}")
    flash(f"job {job.id} queued")
    return redirect(url_for("pages.job", job_id=job.id))
