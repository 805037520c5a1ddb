"""The command table: every essay command once, with its options and the function it runs.

Both front ends are generated from this table, so they cannot drift apart:

* ``es`` (:mod:`essay.cli`) -- argparse, subcommands with spaces (``es pypi serve``);
* ``fab`` in a project (:mod:`essay.fabtasks`) -- invoke tasks with dotted names
  (``fab pypi.serve``).

A handler is ``"module:function"``, imported only when its command runs (``es`` starts
fast); it is called as ``function(ctx, **options)`` with a :class:`essay.context.Context`
and returns an exit status (0 = success).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Arg:
    name: str                      # "version" (positional) or "--color"
    help: str
    default: object = None
    type: type = str
    flag: bool = False             # a boolean switch
    nargs: str | None = None       # "*" or "?" for positionals
    choices: tuple | None = None
    metavar: str | None = None
    key: str | None = None         # the handler's parameter name, if not the flag's

    @property
    def dest(self) -> str:
        return self.key or self.name.lstrip("-").replace("-", "_")

    @property
    def positional(self) -> bool:
        return not self.name.startswith("-")


@dataclass(frozen=True)
class Command:
    name: str                      # "flip", "pypi serve"
    handler: str                   # "essay.flip.cli:flip"
    help: str
    args: tuple[Arg, ...] = ()
    needs_config: bool = True
    description: str = ""
    extra: dict = field(default_factory=dict)


DRY = Arg("--dry-run", "print, per host, exactly what would run; change nothing", flag=True)
COLOR = Arg("--color", "the colour (default: the idle one)", metavar="C")
MESSAGE = Arg("--message", "a note recorded with the lock and history", metavar="TEXT")
RESTART = (Arg("--restart", "restart the idle colour now (it re-reads the secrets)", flag=True),
           Arg("--live", "with --restart: restart the live colour too (a visible act)",
               flag=True))

COMMANDS: tuple[Command, ...] = (
    Command("create", "essay.create:cli_create", "create a new web project from a template",
            (Arg("name", "the project (distribution) name, e.g. demo"),
             Arg("--template", "default, flask or django", default="default", metavar="T"),
             Arg("--no-input", "use defaults, ask nothing", flag=True),
             Arg("--output-dir", "where to create it", default=".", metavar="DIR"),
             Arg("--remote", "git remote to add and push to", metavar="URL")),
            needs_config=False),
    Command("init", "essay.initfix:cli_init",
            "add essay.toml, fabfile.py and conf/ templates to an existing project",
            (Arg("--no-input", "use defaults, ask nothing", flag=True),
             Arg("--fix", "make the version come from [build] version_file: add "
                 "_release.py and the pyproject.toml lines", flag=True)),
            needs_config=False,
            description="Add essay's files to the project here (never overwriting one), then "
                        "say what would fail at the first build or deploy and how to fix "
                        "it; --fix (or yes at the prompt) adds _release.py and makes the "
                        "pyproject version dynamic."),
    Command("doctor", "essay.doctor.cli:cli_doctor",
            "check essay.toml, the project and every host; say what is wrong and how to fix it",
            needs_config=False,
            description="Check essay.toml, the project (buildable, conf/*.j2) and every host "
                        "(reachable, known host key; web: python3 + venv, the index reachable "
                        "from the host; lb: [nginx] test and reload runnable, the state "
                        "directory readable by nginx's workers). One round trip per host. "
                        "Exits 0 only when every check passed."),
    Command("config", "essay.context:cli_config",
            "print the resolved configuration (secrets redacted)",
            (Arg("--json", "print JSON instead of TOML", flag=True, key="as_json"),)),
    Command("build", "essay.build:cli_build",
            "build a git ref into a versioned sdist + wheel and upload it to the index",
            (Arg("--ref", "the git ref to build", default="HEAD", metavar="REF"),
             Arg("--version", "a PEP 440 version (default: YYYY.M.D.N)", metavar="V"),
             Arg("--label", "make the version YYYY.M.D.N+LABEL", metavar="L"),
             Arg("--no-upload", "keep the files in .essay/dist/VERSION, upload nothing",
                 flag=True)),
            description="Build a git ref into a versioned sdist + wheel and upload both. "
                        "The last line of stdout is the version built."),
    Command("versions", "essay.versions:cli_versions",
            "list the project's versions on the index",
            (Arg("--latest", "only the latest", flag=True),
             Arg("--next", "only the version the next build would get", flag=True,
                 key="next_"))),
    Command("pypi serve", "essay.pypi.serve:cli_serve",
            "run the private index (pypiserver) in the foreground",
            (Arg("--host", "address to listen on (default: from [index] url)", metavar="H"),
             Arg("--port", "port (default: from [index] url)", type=int, metavar="P"),
             Arg("--root", "package directory (default: [index] packages_dir)",
                 metavar="DIR"))),
    Command("pypi nginx-conf", "essay.index_nginx:cli_nginx_conf",
            "print an nginx site for the index host: package files from disk, the rest "
            "proxied to es pypi serve",
            (Arg("--listen", "[HOST:]PORT nginx listens on (default: [index] url's port)",
                 metavar="ADDR"),
             Arg("--backend", "HOST:PORT of es pypi serve behind it (default: 127.0.0.1, "
                 "that port + 1)", metavar="ADDR"),
             Arg("--root", "package directory (default: [index] packages_dir)",
                 metavar="DIR"),
             Arg("--server-name", "nginx server_name (default: _)", metavar="NAMES")),
            description="The nginx site for the index host, printed to stdout: it serves "
                        "the package files as static files and proxies the simple pages "
                        "and uploads to pypiserver (es pypi serve on --backend). Redirect "
                        "it into nginx's conf.d/ and reload nginx; docs/build.md."),
    Command("pypi sync", "essay.pypi.sync:cli_sync",
            "download wheels and their dependencies into the index for offline hosts",
            (Arg("packages", "what to sync (default: the project's requirements and "
                 "supervisor)", nargs="*", metavar="PKG"),
             Arg("--python-version", "the hosts' Python, e.g. 3.11.2 (default: [deploy] "
                 "python_version, else asked of the first web host)",
                 metavar="X.Y"),
             Arg("--platform", "the hosts' platform tag, e.g. manylinux2014_x86_64",
                 metavar="TAG"))),
    Command("deploy", "essay.deploy.cli:cli_deploy",
            "install a version into one colour on every web host, in parallel",
            (Arg("version", "a PEP 440 version on the index, or latest"),
             Arg("--color", "the colour (default: the idle one)", metavar="C"),
             Arg("--profile", "profile passed to conf templates and hooks", metavar="NAME"),
             Arg("--role", "the role whose hosts to deploy to", default="web",
                 metavar="ROLE"),
             Arg("--hosts", "only these hosts (comma-separated)", metavar="H,..."),
             Arg("--parallel", "hosts at once (default: [deploy] parallel)", type=int,
                 metavar="N"),
             MESSAGE, DRY,
             Arg("--force", "allow deploying into the live or the canary colour",
                 flag=True),
             Arg("--retry-failed", "only the hosts the last deploy of VERSION failed on "
                 "(recorded in .essay/last-deploy.json), into the same colour", flag=True))),
    Command("flip", "essay.flip.cli:cli_flip",
            "send traffic to a colour on every lb host (no nginx reload)",
            (Arg("color", "the colour to make live", metavar="COLOR"),
             Arg("--weight", "canary: send PCT%% of requests to COLOR, the rest to the live "
                 "colour", type=int, metavar="PCT"),
             MESSAGE, DRY)),
    Command("rollback", "essay.flip.cli:cli_rollback",
            "flip back to the previous colour (it is still running)",
            (Arg("--to", "instead: deploy this older version into the idle colour and flip "
                 "to it", metavar="VERSION"),
             MESSAGE, DRY)),
    Command("nginx apply", "essay.flip.apply:cli_apply",
            "put the rendered site config on every lb: tested everywhere, then one reload "
            "each; all or nothing (flips never reload)",
            (MESSAGE, DRY)),
    Command("release", "essay.release:cli_release",
            "build, publish, deploy to the idle colour, flip, and watch (rolls back by itself)",
            (Arg("--ref", "the git ref to build", default="HEAD", metavar="REF"),
             Arg("--weight", "flip only PCT%% of requests (canary)", type=int, metavar="PCT"),
             MESSAGE)),
    Command("status", "essay.status:cli_status",
            "a table per host and colour: version, processes, ports, health, live",
            (Arg("--role", "the role whose hosts to show", default="web", metavar="ROLE"),
             Arg("--hosts", "only these hosts (comma-separated)", metavar="H,..."))),
    Command("history", "essay.history:cli_history",
            "every deploy, flip, rollback and release, as the lb hosts recorded it",
            (Arg("--lines", "how many of the latest entries", type=int, default=50,
                 metavar="N"),)),
    Command("lock status", "essay.lock:cli_status", "who holds the lock, if anyone"),
    Command("lock release", "essay.lock:cli_release",
            "release the lock if you hold it (after a killed run)"),
    Command("lock break", "essay.lock:cli_break", "remove a stale lock, whoever holds it",
            (MESSAGE,)),
    Command("server", "essay.server.cli:cli_server",
            "run the web server: environments, history, jobs, actions, push webhooks",
            (Arg("--host", "address to listen on (default: [server] host, 127.0.0.1)",
                 metavar="H"),
             Arg("--port", "port (default: [server] port, 8070)", type=int, metavar="P")),
            description="Run essay's web server for this project: pages for every "
                        "environment, its history and jobs; deploy, flip and rollback as "
                        "jobs; push webhooks. Stops cleanly on SIGTERM. See docs/server.md."),
    Command("server worker", "essay.server.cli:cli_worker",
            "run jobs from the server's Redis queue ([server] queue)",
            (Arg("--threads", "jobs at once in this worker", type=int, default=4,
                 metavar="N"),)),
    Command("server user add", "essay.server.cli:cli_user_add",
            "add (or update) a server user; the password is read from stdin",
            (Arg("name", "the user name", metavar="NAME"),
             Arg("--role", "viewer, deployer or admin", default="viewer", metavar="ROLE",
                 choices=("viewer", "deployer", "admin")))),
    Command("server token add", "essay.server.cli:cli_token_add",
            "make an API token (Authorization: Bearer) for CI; prints it once",
            (Arg("name", "what the token is for, e.g. ci", metavar="NAME"),
             Arg("--role", "viewer, deployer or admin", default="deployer", metavar="ROLE",
                 choices=("viewer", "deployer", "admin")))),
    Command("promote", "essay.promote:cli_promote",
            "deploy the version tested in one environment into another's idle colour",
            (Arg("version", "a version live or previous in --from (default: the one live "
                 "there)", nargs="?"),
             Arg("--from", "the environment where it was tested, e.g. staging",
                 metavar="ENV", key="from_"),
             Arg("--to", "the environment to deploy it to, e.g. production", metavar="ENV"),
             Arg("--force", "allow a version that is not live or previous in --from",
                 flag=True),
             Arg("--flip", "also flip --to to it once healthy", flag=True),
             MESSAGE)),
    Command("secrets set", "essay.secrets.cli:cli_set",
            "set secrets on every web host of the environment (never printed)",
            (Arg("pairs", "KEY=VALUE pairs, or one KEY: its value is read from stdin "
                 "(not echoed on a terminal)", nargs="+", metavar="KEY[=VALUE]"),
             *RESTART, DRY),
            description="Set secrets on every web host of the environment, or on none. "
                        "KEY=VALUE puts the value in this machine's argv and shell "
                        "history: prefer `es secrets set KEY` and the value on stdin."),
    Command("secrets unset", "essay.secrets.cli:cli_unset",
            "remove secrets from every web host of the environment",
            (Arg("names", "the secrets to remove", nargs="+", metavar="KEY"), *RESTART, DRY)),
    Command("secrets list", "essay.secrets.cli:cli_list",
            "secret names, and whether every web host has the same value (never values)"),
    Command("run", "essay.run:cli_run",
            "run a command in a colour's venv and environment on one web host",
            (Arg("command", "the command and its arguments, after --", nargs="*",
                 metavar="COMMAND"),
             Arg("--color", "the colour (default: the live one)", metavar="C"),
             Arg("--host", "the host (default: the first web host)", metavar="H")),
            description="Run COMMAND (argv, each word quoted; `sh -c '...'` for shell) in "
                        "a colour's venv, directory and environment on one web host, with a "
                        "terminal when es has one. es exits with the command's status. "
                        "Example: es run -- python -m shop createsuperuser"),
    Command("supervisor", "essay.supervisor:cli_supervisor",
            "start, stop, restart or show a colour's processes on the web hosts",
            (Arg("action", "start, stop, restart or status", metavar="ACTION",
                 choices=("start", "stop", "restart", "status")),
             Arg("program", "one program (e.g. web-0); default: all", nargs="?",
                 metavar="PROGRAM"),
             Arg("--color", "the colour (status: default all)", metavar="C"),
             Arg("--role", "the role whose hosts", default="web", metavar="ROLE"),
             Arg("--hosts", "only these hosts (comma-separated)", metavar="H,..."))),
)


def find(name: str) -> Command:
    for c in COMMANDS:
        if c.name == name:
            return c
    raise KeyError(name)


def resolve(handler: str):
    import importlib

    module, func = handler.split(":")
    return getattr(importlib.import_module(module), func)
