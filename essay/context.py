"""What every command handler gets: the configuration (loaded on first use), the
reporter for output, and a factory for the executor."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from essay.output import Reporter


@dataclass
class Context:
    reporter: Reporter = field(default_factory=Reporter)
    cwd: Path = field(default_factory=Path.cwd)
    config_path: Path | None = None
    env: str | None = None          # -e/--env; None: $ESSAY_ENV, else default_env
    _cfg: object = None

    @property
    def cfg(self):
        if self._cfg is None:
            from essay import config

            self._cfg = config.load(self.cwd, self.config_path, env=self.env)
        return self._cfg

    def for_env(self, env: str) -> "Context":
        """The same invocation, in another environment (``es promote``)."""
        return Context(reporter=self.reporter, cwd=self.cwd, config_path=self.config_path,
                       env=env)

    def executor(self, dry_run: bool = False, parallel: int | None = None):
        """The executor for this command; refused (before any host is touched) when the
        project has environments and none is chosen."""
        from essay import config
        from essay.remote.executor import Executor

        config.require(self.cfg)
        return Executor.from_config(self.cfg, self.reporter, dry_run=dry_run, parallel=parallel)

    def connect_soon(self, roles, dry_run: bool = False) -> None:
        """Start connecting to these roles' hosts while the command is still being imported
        and built (:meth:`Executor.connect_soon`, without importing the executor yet):
        called once its arguments are valid (bad input opens no connection). Anything
        wrong with the configuration is left for the command to say."""
        if dry_run:
            return
        from essay import config
        from essay.errors import EssayError
        from essay.remote import openssh

        try:
            cfg = self.cfg
            config.require(cfg)
            openssh.start_for([h for role in roles for h in cfg.hosts(role)],
                              openssh.hosts_for(cfg), **openssh.settings(cfg))
        except EssayError:
            pass


def cli_config(ctx: Context, as_json: bool = False) -> int:
    """``es config``: the resolved configuration, defaults filled in, secrets redacted."""
    from essay import config
    from essay.config.credentials import toml_warning

    data = config.redacted(ctx.cfg)
    if toml_warning(ctx.cfg):
        ctx.reporter.warn(toml_warning(ctx.cfg))
    if as_json:
        ctx.reporter.print(json.dumps(data, indent=2))
    else:
        ctx.reporter.print(to_toml(data))
    return 0


def to_toml(data: dict) -> str:
    """A small TOML writer for ``es config`` output (tables of scalars and lists)."""
    out = []
    for table, values in data.items():
        out.append(f"[{table}]")
        for key, value in values.items():
            if value is None:
                out.append(f"# {key} = (not set)")
            else:
                out.append(f"{key} = {json.dumps(value)}")
        out.append("")
    return "\n".join(out).rstrip()
