"""``es pypi serve``: pypiserver (under waitress) for the project's index."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from essay.errors import EssayError, UsageError
from essay.pypi.credentials import USER, credentials_path, ensure_credentials


def serve_argv(cfg, host: str | None = None, port: int | None = None,
               root: str | None = None) -> list[str]:
    """pypiserver's own command line for this project's index (no secret on it): what
    ``es pypi serve`` gives pypiserver's configuration parser."""
    if port is not None and not 1 <= port <= 65535:
        raise UsageError(f"--port {port} is out of range: expected a port from 1 to 65535")
    if host is not None and not host.strip():
        raise UsageError("--host is empty: expected an address to listen on, e.g. 0.0.0.0")
    url = urlsplit(cfg.index_url)
    root_dir = Path(root) if root else cfg.packages_dir
    root_dir.mkdir(parents=True, exist_ok=True)
    return ["run", "--host", host or url.hostname or "127.0.0.1",
            "--port", str(port or url.port or 8090),
            "--passwords", str(ensure_credentials(cfg)), "--authenticate", "update",
            "--disable-fallback", "-v", str(root_dir)]


def waitress_options(cfg) -> dict:
    """waitress's settings for the index: ``[index] threads`` and ``connection_limit``.
    poll() instead of select(): select() cannot watch a descriptor numbered 1024 or more."""
    return {"threads": cfg.index_threads, "connection_limit": cfg.index_connection_limit,
            "asyncore_use_poll": True, "ident": "essay-pypi"}


def run_index(argv: list[str], options: dict):
    """pypiserver's app, as its own ``main`` builds it (configuration, logging, the
    health endpoint), served by waitress with ``options``."""
    import functools
    import logging

    import pypiserver
    import waitress
    from pypiserver import bottle_wrapper as bottle
    from pypiserver.__main__ import _logwrite, init_logging
    from pypiserver.config import Config

    from essay.remote.connect import raise_fd_limit

    config = Config.from_args(argv)
    init_logging(level=config.log_level, filename=config.log_file, frmt=config.log_frmt,
                 stream=config.log_stream)
    bottle.debug(config.verbosity > 1)
    bottle._stderr = functools.partial(_logwrite, logging.getLogger(bottle.__name__),
                                       logging.INFO)
    app = pypiserver.setup_routes_from_config(pypiserver.app_from_config(config), config)
    raise_fd_limit(options["connection_limit"], per_connection=1)
    waitress.serve(app, host=config.host, port=config.port, **options)


def cli_serve(ctx, host=None, port=None, root=None) -> int:
    """``es pypi serve``: pypiserver under waitress in the foreground, logging requests to
    stderr."""
    argv = serve_argv(ctx.cfg, host, port, root)
    options = waitress_options(ctx.cfg)
    ctx.reporter.info(f"serving {argv[-1]} at http://{argv[2]}:{argv[4]}/simple/ "
                      f"({options['threads']} threads, at most "
                      f"{options['connection_limit']} connections; "
                      f"uploads: user {USER}, password in {credentials_path(ctx.cfg)})")
    try:
        run_index(argv, options)
    except KeyboardInterrupt:
        pass
    except OSError as e:   # the address: taken, or not this machine's
        raise EssayError(f"cannot listen on {argv[2]}:{argv[4]}: {e.strerror or e}") from None
    ctx.reporter.outcome("index stopped")
    return 0
