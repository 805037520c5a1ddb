"""Unsafe settings in a project's own ``conf/*.j2`` (made from older essay templates).

:func:`check_conf` reads ``conf/nginx.conf.j2`` and ``conf/supervisord.conf.j2`` as text and
returns one line per problem, each saying what to change. It is pure (reads files, runs
nothing): ``es flip``/``es rollback`` print its lines as warnings, ``es doctor`` too, and
``es deploy`` the lines of :func:`check_app_keys` (essay.toml keys the template ignores).

The rule behind most of it (docs/flip.md#the-keep-alive-rule): nginx must give up an idle
upstream connection before the app server does. nginx's upstream ``keepalive_timeout``
defaults to 60 s, gunicorn's ``--keep-alive`` to 2 s: nginx then reuses connections gunicorn
is closing, answers 502, never retries a POST, and with ``max_fails`` >= 1 (the default is
1) marks every server of a colour down at once.
"""
from __future__ import annotations

import re
from pathlib import Path


#: The keep-alive rule: nginx gives up an idle upstream connection (``keepalive_timeout``
#: in the upstream block) well before gunicorn does (``--keep-alive``). The built-in
#: templates get these as ``upstream_keepalive_timeout`` and ``keep_alive``.
APP_KEEP_ALIVE = 75
UPSTREAM_KEEPALIVE_TIMEOUT = 60
DOCS = "docs/flip.md#the-keep-alive-rule"
NGINX_DEFAULT_UPSTREAM_KEEPALIVE = 60     # ngx_http_upstream_keepalive_module: 60000 ms
GUNICORN_DEFAULT_KEEP_ALIVE = 2
#: what the built-in templates' context variables stand for, when a template uses them
KNOWN = {"upstream_keepalive_timeout": str(UPSTREAM_KEEPALIVE_TIMEOUT),
         "keep_alive": str(APP_KEEP_ALIVE)}

_EXPR = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")
_STMT = re.compile(r"\{%.*?%\}|\{#.*?#\}", re.S)
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
_GUNICORN_ENTRY = re.compile(r"gunicorn\b.*?\s([A-Za-z_][\w.]*:[A-Za-z_][\w.]*(?:\(\))?)\s*$",
                             re.M)
TEMPLATES_DOCS = "docs/templates.md#confsupervisordconfj2"


def uses(text: str, name: str) -> bool:
    """Does a Jinja expression or statement of the template name the variable ``name``?"""
    return any(re.search(rf"(?<![\w.]){name}\b", m.group(0)) for m in _JINJA.finditer(text))


def template_entry(text: str, package: str) -> str | None:
    """The ``module:callable`` a supervisord template's gunicorn line names (with
    ``{{ package }}`` filled in), or None."""
    m = _GUNICORN_ENTRY.search(re.sub(r"\{\{\s*package\s*\}\}", package, text))
    return m.group(1) if m else None


def _plain(text: str) -> str:
    """Template text with Jinja statements and comments blanked (same length, same lines)
    and ``{{ known }}`` expressions replaced by their value (others by ``X``), so nginx's
    braces can be counted."""
    text = _STMT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    return _EXPR.sub(lambda m: KNOWN.get(m.group(1), "X"), text)


def _seconds(value: str) -> float | None:
    """An nginx time (``60``, ``60s``, ``2m``, ``500ms``) in seconds; None if unknown."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", value.strip())
    if not m:
        return None
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    return float(m.group(1)) * scale


def _blocks(text: str, word: str) -> list[tuple[int, str]]:
    """(line number, body) of every ``word NAME {...}`` block (nginx syntax, no nesting
    inside upstream blocks)."""
    out = []
    for m in re.finditer(rf"^[ \t]*{word}\s+\S+\s*\{{", text, re.M):
        end = text.find("}", m.end())
        out.append((text.count("\n", 0, m.start()) + 1, text[m.end():end if end >= 0 else None]))
    return out


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def upstream_keepalive(text: str) -> float | None:
    """The longest upstream ``keepalive_timeout`` of upstreams that keep connections
    (``keepalive N``), in seconds; None if no upstream keeps connections."""
    longest = None
    for _, body in _blocks(_plain(text), "upstream"):
        if not re.search(r"^\s*keepalive\s+\d+\s*;", body, re.M):
            continue
        m = re.search(r"^\s*keepalive_timeout\s+([^;\s]+)\s*;", body, re.M)
        t = _seconds(m.group(1)) if m else NGINX_DEFAULT_UPSTREAM_KEEPALIVE
        t = NGINX_DEFAULT_UPSTREAM_KEEPALIVE if t is None else t
        longest = t if longest is None else max(longest, t)
    return longest


def check_nginx(text: str, name: str = "conf/nginx.conf.j2") -> list[str]:
    plain, out = _plain(text), []
    for m in re.finditer(r"^[ \t]*server\s+(\S+)([^;]*);", plain, re.M):
        if not any(_blocks_contain(plain, m.start())):
            continue
        fails = re.search(r"\bmax_fails=(\d+)", m.group(2))
        if fails is None or int(fails.group(1)) > 0:
            found = f"max_fails={fails.group(1)}" if fails else "no max_fails (nginx's default is 1)"
            out.append(f"{name} line {_line_of(plain, m.start())}: upstream server with "
                       f"{found}: one stale keep-alive connection can mark every server of a "
                       f"colour down; write `server ... max_fails=0;` ({DOCS})")
    for line, body in _blocks(plain, "upstream"):
        if re.search(r"^\s*keepalive\s+\d+\s*;", body, re.M) and \
                not re.search(r"^\s*keepalive_timeout\s", body, re.M):
            out.append(f"{name} line {line}: upstream keeps idle connections (`keepalive`) "
                       f"without `keepalive_timeout` (nginx's default is "
                       f"{NGINX_DEFAULT_UPSTREAM_KEEPALIVE}s): add `keepalive_timeout "
                       f"{{{{ upstream_keepalive_timeout }}}}s;` (shorter than the app's "
                       f"keep-alive, {APP_KEEP_ALIVE}s) to the upstream block ({DOCS})")
    m = re.search(r"proxy_set_header\s+Host\s+\$host\s*;", plain)
    if m:
        out.append(f"{name} line {_line_of(plain, m.start())}: `proxy_set_header Host $host;` "
                   "drops the port (Django's CSRF check and absolute redirects break behind a "
                   "non-80 port): write `proxy_set_header Host $http_host;`")
    if not re.search(r"^\s*client_max_body_size\s", plain, re.M):
        out.append(f"{name}: no `client_max_body_size` (nginx refuses bodies over 1m with 413): "
                   "add `client_max_body_size {{ client_max_body_size }};` to the server block "
                   "and set essay.toml [nginx] client_max_body_size")
    return out


def _blocks_contain(plain: str, pos: int):
    """True for each upstream block that contains ``pos``."""
    for m in re.finditer(r"^[ \t]*upstream\s+\S+\s*\{", plain, re.M):
        end = plain.find("}", m.end())
        yield m.end() <= pos < (end if end >= 0 else len(plain))


def check_supervisord(text: str, nginx_keepalive: float | None,
                      name: str = "conf/supervisord.conf.j2") -> list[str]:
    plain, out = _plain(text), []
    limit = NGINX_DEFAULT_UPSTREAM_KEEPALIVE if nginx_keepalive is None else nginx_keepalive
    for m in re.finditer(r"^[ \t]*command\s*=\s*(.*gunicorn.*)$", plain, re.M):
        cmd = m.group(1)
        ka = re.search(r"(?:--keep-alive|--keepalive)(?:=|\s+)(\S+)", cmd)
        seconds = float(ka.group(1)) if ka and re.fullmatch(r"\d+(\.\d+)?", ka.group(1)) \
            else (None if ka else GUNICORN_DEFAULT_KEEP_ALIVE)
        if seconds is not None and seconds <= limit:
            found = f"--keep-alive {ka.group(1)}" if ka else \
                f"no --keep-alive (gunicorn's default is {GUNICORN_DEFAULT_KEEP_ALIVE}s)"
            out.append(f"{name} line {_line_of(plain, m.start())}: gunicorn with {found} closes "
                       f"idle connections before nginx gives them up ({limit:g}s): add "
                       f"`--keep-alive {{{{ keep_alive }}}}` ({APP_KEEP_ALIVE}s) to the "
                       f"command ({DOCS})")
    return out


def check_exec(text: str, name: str = "conf/supervisord.conf.j2") -> list[str]:
    """A program ``command`` not started through the colour's exec wrapper sees no
    secrets and no ESSAY_ENV (docs/secrets.md)."""
    return [f"{name} line {_line_of(text, m.start())}: the command does not start with "
            "`{{ essay_exec }}`: the program gets no secrets (es secrets) and no ESSAY_ENV; "
            "write `command = {{ essay_exec }} ...` (docs/secrets.md#the-exec-wrapper)"
            for m in re.finditer(r"^[ \t]*command\s*=(.*)$", text, re.M)
            if "essay_exec" not in m.group(1) and "essay-exec" not in m.group(1)]


def check_app_keys(text: str, cfg, name: str = "conf/supervisord.conf.j2") -> list[str]:
    """essay.toml keys set that the project's supervisord template ignores (a template made
    before they existed): ``[deploy] app`` (when not the default), ``[deploy] server`` (when
    not gunicorn) and ``[workers]``. One line each, saying what to write."""
    from essay.config.app import SERVERS

    out = []
    default = f"{cfg.package}.wsgi:application"
    entry = template_entry(text, cfg.package)
    if cfg.app != default and not uses(text, "app") and entry != cfg.app:
        served = entry or "an entry point of its own"
        out.append(f"{name} does not use {{{{ app }}}}: it serves {served}, not essay.toml "
                   f"[deploy] app = {cfg.app!r}; write `{{{{ app }}}}` in place of "
                   f"{entry or 'the entry point'} on the gunicorn command line ({TEMPLATES_DOCS})")
    if cfg.server != "gunicorn" and not uses(text, "server_args"):
        out.append(f"{name} does not use {{{{ server_args }}}}: essay.toml [deploy] server = "
                   f"{cfg.server!r} needs `{' '.join(SERVERS[cfg.server][0])}`; write "
                   f"`{{{{ server_args }}}}` after `--bind ...` on the gunicorn command line "
                   f"({TEMPLATES_DOCS})")
    if cfg.workers and not uses(text, "workers"):
        out.append(f"{name} does not use `workers`: essay.toml [workers] "
                   f"({', '.join(cfg.workers)}) would deploy no worker program; copy the "
                   "`{% for worker, command in workers.items() %}` [program:worker-{{ worker }}]"
                   f" block of essay's built-in template into it ({TEMPLATES_DOCS})")
    return out


def check_own_supervisord(cfg) -> list[str]:
    """:func:`check_app_keys` on the project's own supervisord template (none: [])."""
    sup = Path(cfg.root) / "conf" / "supervisord.conf.j2"
    return check_app_keys(sup.read_text(errors="replace"), cfg) if sup.is_file() else []


def check_conf(conf_dir, cfg=None) -> list[str]:
    """Every unsafe setting in ``conf_dir``'s nginx.conf.j2 and supervisord.conf.j2 (files
    that are missing are essay's built-in ones: safe), and with ``cfg`` the essay.toml keys
    the supervisord template ignores (:func:`check_app_keys`). One line each."""
    conf = Path(conf_dir)
    nginx, sup = conf / "nginx.conf.j2", conf / "supervisord.conf.j2"
    out, keepalive = [], float(UPSTREAM_KEEPALIVE_TIMEOUT)
    if nginx.is_file():
        text = nginx.read_text(errors="replace")
        out += check_nginx(text)
        keepalive = upstream_keepalive(text)
    if sup.is_file():
        out += check_supervisord(sup.read_text(errors="replace"), keepalive)
        out += check_exec(sup.read_text(errors="replace"))
        out += check_app_keys(sup.read_text(errors="replace"), cfg) if cfg is not None else []
    return out
