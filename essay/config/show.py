"""The resolved configuration as plain data, for ``es config``."""
from __future__ import annotations

from essay.config.reader import redact_url
from essay.config.schema import Config


def redacted(cfg: Config) -> dict:
    """The resolved configuration as plain data, for ``es config``; secrets never appear."""
    out = {
        "environment": {"name": cfg.env, "names": list(cfg.env_names)},
        "project": {"name": cfg.name, "package": cfg.package, "root": str(cfg.root),
                    "file": str(cfg.path) if cfg.path else None},
        "index": {"url": redact_url(cfg.index_url), "upload_url": redact_url(cfg.upload_url),
                  "embedded": cfg.index_embedded, "packages_dir": str(cfg.packages_dir),
                  "threads": cfg.index_threads,
                  "connection_limit": cfg.index_connection_limit,
                  "password_from": cfg.index_password or None},
        "roles": cfg.roles,
        "deploy": {"prefix": cfg.prefix, "python": cfg.python, "processes": cfg.processes,
                   "health_path": cfg.health_path, "health_timeout": cfg.health_timeout,
                   "installer": cfg.installer, "parallel": cfg.parallel, "profile": cfg.profile,
                   "pre_deploy": cfg.pre_deploy, "post_deploy": cfg.post_deploy,
                   "app": cfg.app, "server": cfg.server, "packages": list(cfg.packages),
                   "health_host": cfg.health_host, "release": cfg.release,
                   "python_version": cfg.python_version},
        "colors": cfg.colors,
        "nginx": {"site": cfg.nginx_site, "test": cfg.nginx_test, "reload": cfg.nginx_reload,
                  "listen": cfg.nginx_listen, "server_name": cfg.nginx_server_name,
                  "state_dir": cfg.nginx_state_dir, "pid_file": cfg.nginx_pid_file,
                  "reload_timeout": cfg.nginx_reload_timeout},
        "workers": dict(cfg.workers),
        "release": {"grace": cfg.release_grace},
        "build": {"version_file": cfg.version_file},
        "ssh": {"accept_new_host_keys": cfg.accept_new_host_keys,
                "connect_timeout": cfg.connect_timeout, "client": cfg.ssh_client,
                "control_persist": cfg.control_persist},
    }
    return out
