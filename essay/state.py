"""What the load balancers know: the live marker, recorded state, history and the lock.

Everything lives on each lb host in ``[nginx] state_dir`` (default: next to the site file,
``<site without .conf>.essay/``)::

    live -> colors/b           the marker nginx reads per request (a symlink, switched
                               atomically by rename); the truth for what is live
    colors/b/b                 a snapshot directory: one file named after the colour
    colors/canary-b-10-a/      a canary snapshot: base colour a (file ``a``) plus
        a, canary-b/0..9       one file per 1% bucket that goes to b
    state                      key=value lines: live, previous, version_<colour>, ...
    history                    one tab-separated line per deploy, flip, rollback:
                               time, who, command, from, to, outcome, detail, message,
                               environment (``-`` without [env.*])
    lock/info                  who holds the lock: token, who, when, command, message

With environments (``[env.NAME]``), each has its own state directory, ``state_dir/NAME``:
its own live colour, lock and history.

The shell functions below are defined once in every lb script (``Script.defs``); the
builders in this module and in :mod:`essay.flip.commands` call them.
"""
from __future__ import annotations

import contextvars
import getpass
import secrets
import socket
from dataclasses import dataclass, field

from essay.remote.script import HostResult, Script, Step
from essay.remote.shell import qpath

LOCKED = 75  # exit status of a script that found the lock held by someone else

LB_FUNCTIONS = r"""
es_snapshot() { local t; t=$(readlink "$ESSAY_STATE/live" 2>/dev/null) || return 0; basename "$t"; }
es_live() { local s; s=$(es_snapshot); case "$s" in canary-*) echo "${s##*-}";; *) echo "$s";; esac; }
es_get() { [ -f "$ESSAY_STATE/state" ] && sed -n "s/^$1=//p" "$ESSAY_STATE/state" | tail -n 1; return 0; }
es_put() {
  local f="$ESSAY_STATE/state" kv; mkdir -p "$ESSAY_STATE"
  if [ -f "$f" ]; then cp "$f" "$f.tmp"; else : > "$f.tmp"; fi
  for kv in "$@"; do
    grep -v "^${kv%%=*}=" "$f.tmp" > "$f.tmp2" || true
    printf '%s\n' "$kv" >> "$f.tmp2"; mv -f "$f.tmp2" "$f.tmp"
  done
  mv -f "$f.tmp" "$f"
}
es_oneline() { printf %s "$1" | tr '\t\n\r' '   '; }
es_history() {
  local line; mkdir -p "$ESSAY_STATE"
  line=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "$(es_oneline "$ESSAY_USER")" "$(es_oneline "$1")" "$(es_oneline "${2:--}")" \
    "$(es_oneline "${3:--}")" "$(es_oneline "$4")" "$(es_oneline "${5:-}")" \
    "$(es_oneline "${ESSAY_MESSAGE:-}")" "$(es_oneline "${ESSAY_ENV:--}")")
  printf '%s\n' "$line" >> "$ESSAY_STATE/history"
}
es_plain() { mkdir -p "$ESSAY_STATE/colors/$1" && : > "$ESSAY_STATE/colors/$1/$1"; echo "$1"; }
es_canary() {
  local d="$ESSAY_STATE/colors/canary-$1-$2-$3" i=0
  mkdir -p "$d/canary-$1" && : > "$d/$3"
  while [ "$i" -lt "$2" ]; do : > "$d/canary-$1/$i"; i=$((i + 1)); done
  echo "canary-$1-$2-$3"
}
es_switch() { ln -sfn "colors/$1" "$ESSAY_STATE/live.new" && mv -fT "$ESSAY_STATE/live.new" "$ESSAY_STATE/live"; }
es_lock() {
  local who when what msg; mkdir -p "$ESSAY_STATE"
  if mkdir "$ESSAY_STATE/lock" 2>/dev/null; then
    printf '%s\t%s\t%s\t%s\t%s\n' "$ESSAY_LOCK_TOKEN" "$(es_oneline "$ESSAY_USER")" \
      "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(es_oneline "$ESSAY_COMMAND")" \
      "$(es_oneline "$ESSAY_MESSAGE")" > "$ESSAY_STATE/lock/info.tmp"
    mv -f "$ESSAY_STATE/lock/info.tmp" "$ESSAY_STATE/lock/info"
    return 0
  fi
  # the holder may have made the directory an instant ago: give it time to say who it is
  for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$ESSAY_STATE/lock/info" ] && break; sleep 0.1; done
  [ "$(cut -f1 "$ESSAY_STATE/lock/info" 2>/dev/null)" = "$ESSAY_LOCK_TOKEN" ] && return 0
  # cut, not read: read with IFS=tab would merge empty fields and shift the rest
  who=$(cut -f2 "$ESSAY_STATE/lock/info" 2>/dev/null) || true
  when=$(cut -f3 "$ESSAY_STATE/lock/info" 2>/dev/null) || true
  what=$(cut -f4 "$ESSAY_STATE/lock/info" 2>/dev/null) || true
  msg=$(cut -f5- "$ESSAY_STATE/lock/info" 2>/dev/null) || true
  echo "locked by ${who:-?} since ${when:-?}: ${what:-?}${msg:+ ($msg)}"
  essay_data locked "${who:-?} since ${when:-?}: ${what:-?}${msg:+ ($msg)}"
  exit 75
}
es_unlock() {
  [ "${ESSAY_LOCK_KEEP:-0}" = 1 ] && return 0
  [ "$(cut -f1 "$ESSAY_STATE/lock/info" 2>/dev/null)" = "$ESSAY_LOCK_TOKEN" ] && rm -rf "$ESSAY_STATE/lock"
  return 0
}
es_report() {
  local live recorded kv
  live=$(es_live); recorded=$(es_get live)
  if [ "$live" != "$recorded" ]; then
    # repaired only under our own lock: an unlocked write could race a flip's record
    kv="the recorded live colour '${recorded}'"
    if [ "$(cut -f1 "$ESSAY_STATE/lock/info" 2>/dev/null)" = "$ESSAY_LOCK_TOKEN" ]; then
      es_put "live=$live"
      essay_data repaired "$kv disagreed with the marker '${live}' (what nginx reads):\
 the record now says '${live}'"
    else
      essay_data repaired "$kv disagrees with the marker '${live}' (what nginx reads, the\
 truth); the next deploy, flip or rollback repairs the record"
    fi
  fi
  essay_data live "$live"; essay_data snapshot "$(es_snapshot)"
  [ -f "$ESSAY_STATE/state" ] && while IFS= read -r kv; do essay_data "state" "$kv"; done < "$ESSAY_STATE/state"
  [ -f "$ESSAY_STATE/lock/info" ] && essay_data lock "$(tr '\t' ' ' < "$ESSAY_STATE/lock/info" | cut -d' ' -f2-)"
  return 0
}
""".strip()


#: Who runs the operations of this thread, if not the local user@host: ``es server`` sets it
#: for a job ("alice via essay server (job 12)"), so the lbs' lock and history name them.
ACTOR: contextvars.ContextVar[str | None] = contextvars.ContextVar("essay_actor", default=None)


def _user() -> str:
    return ACTOR.get() or f"{getpass.getuser()}@{socket.gethostname()}"


@dataclass
class Operation:
    """One essay command as the lbs see it: who runs it, its lock token, its message."""

    command: str
    message: str = ""
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    user: str = field(default_factory=_user)


@dataclass
class LbState:
    host: str
    live: str = ""
    snapshot: str = ""
    state: dict = field(default_factory=dict)
    lock: str = ""

    @property
    def previous(self) -> str:
        return self.state.get("previous", "")

    def version(self, color: str) -> str:
        return self.state.get(f"version_{color}", "")

    @property
    def canary(self) -> tuple[str, int] | None:
        if self.snapshot.startswith("canary-"):
            _, color, weight, _ = self.snapshot.split("-", 3)
            return color, int(weight)
        return None

    @classmethod
    def from_result(cls, res: HostResult) -> "LbState":
        state = dict(kv.split("=", 1) for kv in res.data.get("state", []) if "=" in kv)
        return cls(host=res.host, live=res.value("live", "") or "",
                   snapshot=res.value("snapshot", "") or "", state=state,
                   lock=res.value("lock", "") or "")


def lb_script(cfg, op: Operation, title: str, steps, keep_lock: bool = False,
              lock: bool = True, on_failure: str = "", progress: bool = False,
              on_abandon: str = "") -> Script:
    """An lb script: state functions defined, the lock taken first (unless ``lock`` is
    False), released at exit unless ``keep_lock`` (a later round trip releases it).
    With ``keep_lock``, a script whose client went away (Ctrl-C: its output can no longer
    be written) runs ``on_abandon`` and releases the lock after all: no later round trip
    will come."""
    env = (("ESSAY_USER", op.user), ("ESSAY_LOCK_TOKEN", op.token),
           ("ESSAY_COMMAND", op.command), ("ESSAY_MESSAGE", op.message),
           ("ESSAY_LOCK_KEEP", "1" if keep_lock else "0"), ("ESSAY_ENV", cfg.env or ""))
    # SIGPIPE ignored: if the client goes away (Ctrl-C, lost connection) the script still
    # runs to its end -- the state stays whole and the finally releases the lock
    defs = f"trap '' PIPE\nexport ESSAY_STATE={qpath(cfg.nginx_state_dir)}\n{LB_FUNCTIONS}"
    first = (Step("lock", "es_lock"),) if lock else ()
    # essay gone (its output can no longer be written): whatever the step's status (a
    # write to the closed channel may have failed it), on_abandon, and no lock kept;
    # on_abandon sets __handled when it has recorded what happened (on_failure is skipped)
    gone = (f'__handled=; if ! printf "\\n" 2>/dev/null; then '
            f'{on_abandon + "; " if on_abandon else ""}ESSAY_LOCK_KEEP=0; fi; '
            if keep_lock and lock else "")
    fail = (f'if [ "$__rc" -ne 0 ] && [ "$__rc" -ne {LOCKED} ] && [ -z "${{__handled:-}}" ]; '
            f'then {on_failure}; fi; ') if on_failure else ""
    return Script(title=title, steps=first + tuple(steps), env=env, defs=defs,
                  finally_=gone + fail + ("es_unlock" if lock else ":"), progress=progress)


def report_step() -> Step:
    return Step("read state", "es_report")
