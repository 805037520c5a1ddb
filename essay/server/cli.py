"""``es server``, ``es server worker``, ``es server user add``, ``es server token add``.

The CLI table names these handlers; this module imports the web stack (Flask, huey,
SQLAlchemy) only inside them, so ``es`` without ``server`` never loads it.
"""
from __future__ import annotations

import getpass
import signal
import sys
import threading

from essay.errors import EssayError, UsageError


def _need_extra():
    try:
        import flask  # noqa: F401
        import flask_login  # noqa: F401
        import flask_wtf  # noqa: F401
        import huey  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError as e:
        raise EssayError(f"es server needs the server extra ({e.name} is missing): "
                         "pip install 'essay[server]'") from None


def _setup(ctx):
    _need_extra()
    from essay.server import queue
    from essay.server.settings import load
    from essay.server.store import Store

    settings = load(ctx.cfg)
    store = Store(settings.db_url)
    huey, task = queue.make(settings, store, ctx.cfg.name)
    return settings, store, huey, task


def cli_server(ctx, host=None, port=None) -> int:
    from essay.server import jobs, queue
    from essay.server.app import create_app

    settings, store, huey, task = _setup(ctx)
    host, port = host or settings.host, port or settings.port
    if not 1 <= port <= 65535:
        raise UsageError(f"--port is {port}, expected a port number from 1 to 65535")
    enqueue = lambda job_id: task(job_id)   # noqa: E731
    app = create_app(ctx.cfg, settings, store, enqueue)
    from werkzeug.serving import make_server

    try:
        server = make_server(host, port, app, threaded=True)
    except OSError as e:
        raise EssayError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    consumer = None
    if not settings.queue:   # the embedded default: jobs run in this process
        consumer = queue.consumer(huey, settings.workers)
        consumer.start()
    stop = threading.Event()
    sweeper = threading.Thread(target=jobs.sweep, args=(settings, store, stop, enqueue),
                               daemon=True)
    sweeper.start()

    def shutdown(signum, frame):
        ctx.reporter.info(f"{signal.Signals(signum).name}: stopping")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    ctx.reporter.info(f"essay server for {ctx.cfg.name} on http://{host}:{server.port}/ "
                      f"(jobs: {'Redis ' + _redact(settings.queue) if settings.queue else 'embedded'}"
                      f", data: {settings.data_dir})")
    server.serve_forever(poll_interval=0.2)
    stop.set()
    if consumer is not None:   # running jobs finish; queued ones wait for the next start
        consumer.stop(graceful=True)
    server.server_close()
    ctx.reporter.outcome("the server stopped")
    return 0


def _redact(url: str) -> str:
    from essay.config import redact_url

    return redact_url(url)


def cli_worker(ctx, threads=4) -> int:
    from essay.server import queue

    settings, store, huey, task = _setup(ctx)
    if not settings.queue:
        raise UsageError("[server] queue is not set: the embedded queue runs its jobs inside "
                         "`es server`; set queue = \"redis://HOST:6379/0\" to use workers")
    if not 1 <= threads <= 64:
        raise UsageError(f"--threads is {threads}, expected 1 to 64")
    ctx.reporter.info(f"essay worker {queue.worker_id()} on {_redact(settings.queue)}, "
                      f"{threads} thread(s)")
    queue.consumer(huey, threads).run()
    ctx.reporter.outcome("the worker stopped")
    return 0


def _password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\n")


def cli_user_add(ctx, name, role="viewer") -> int:
    from essay.server.settings import ROLES

    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").replace(
            ".", "").isalnum():
        raise UsageError(f"user name {name!r}: expected 1-64 letters, digits, '-', '_', '.'")
    if role not in ROLES:
        raise UsageError(f"--role is {role!r}, expected one of {', '.join(ROLES)}")
    password = _password()
    if len(password) < 8:
        raise UsageError("the password (read from stdin) must have at least 8 characters")
    _need_extra()
    from essay.server.settings import load
    from essay.server.store import Store

    new = Store(load(ctx.cfg).db_url).add_user(name, role, password)
    ctx.reporter.outcome(f"user {name} ({role}) {'added' if new else 'updated'}")
    return 0


def cli_token_add(ctx, name, role="deployer") -> int:
    from essay.server.settings import ROLES

    if role not in ROLES:
        raise UsageError(f"--role is {role!r}, expected one of {', '.join(ROLES)}")
    _need_extra()
    from essay.server.settings import load
    from essay.server.store import Store

    token = Store(load(ctx.cfg).db_url).add_token(name, role)
    ctx.reporter.print(token)
    ctx.reporter.outcome(f"token {name} ({role}): shown once, above; only its hash is kept")
    return 0
