"""Quoting: the only way a value gets into a shell command.

Builders write shell *structure* by hand (``&&``, ``if``, redirects) and put every value
through :func:`q` (or :func:`qpath` for paths that may start with ``~``). Nothing
unquoted ever reaches a shell; ``tests/test_shell.py`` checks that property with
hypothesis over arbitrary text.
"""
from __future__ import annotations

import base64
import shlex

#: Stands for the remote user's home in rendered files; the remote script replaces it.
HOME_TOKEN = "@ESSAY_HOME@"


def q(value) -> str:
    """One shell word that means exactly ``str(value)``."""
    return shlex.quote(str(value))


def qpath(path: str) -> str:
    """Like :func:`q`, but a leading ``~`` or ``~/`` means the remote user's home."""
    path = str(path)
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        rest = path[2:]
        return '"$HOME"' + ("/" + q(rest) if rest else "")
    return q(path)


def home_path(path: str) -> str:
    """``path`` with a leading ``~`` turned into :data:`HOME_TOKEN`, for rendered files."""
    path = str(path)
    if path == "~" or path.startswith("~/"):
        return HOME_TOKEN + path[1:]
    return path


def cmd(*argv) -> str:
    """A simple command from its arguments, each quoted."""
    return " ".join(q(a) for a in argv)


def write_file(path: str, content: str, mode: str | None = None) -> str:
    """Shell text that writes ``content`` to ``path`` atomically (temp file + rename).

    The content travels base64-encoded inside the script (so it costs no extra round
    trip and needs no quoting), and :data:`HOME_TOKEN` in it becomes the remote ``$HOME``.
    """
    return (
        f"essay_write {qpath(path)} {q(base64.b64encode(content.encode()).decode())}"
        + (f" && chmod {q(mode)} {qpath(path)}" if mode else "")
    )


def write_if_changed(path: str, content: str) -> str:
    """Shell text like :func:`write_file` that leaves the file (and its mtime) alone when
    it already holds ``content``."""
    new, old = qpath(path + ".essay-new"), qpath(path)
    return (f"{render_to(path + '.essay-new', content)} && if cmp -s {new} {old}; "
            f"then rm -f {new}; else mv -f {new} {old}; fi")


def render_to(path: str, content: str) -> str:
    """Shell text that renders ``content`` (HOME_TOKEN expanded) into ``path`` as is, no rename."""
    return f"essay_render {q(base64.b64encode(content.encode()).decode())} > {qpath(path)}"


#: Shell functions every script defines (see :meth:`essay.remote.script.Script.render`).
PRELUDE = r"""
essay_data() { local v=${2-}; v=${v//$'\n'/ }; printf '::essay:: data %s %s\n' "$1" "$v"; }
essay_set() { printf '%s=%q\n' "$1" "$2" >> "$ESSAY_VARS"; eval "$1=\$2"; }
essay_render() {
  local __c; __c=$(printf %s "$1" | base64 -d; printf .); __c=${__c%.}
  printf %s "${__c//@ESSAY_HOME@/$HOME}"
}
essay_dir() { __dir=$(dirname -- "$1"; printf .); __dir=${__dir%.}; __dir=${__dir%$'\n'}; }
essay_write() {
  essay_dir "$1"
  mkdir -p -- "$__dir" && essay_render "$2" > "$1.essay-tmp" && mv -f -- "$1.essay-tmp" "$1"
}
""".strip()
