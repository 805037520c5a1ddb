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
es_mkstate() { [ -d "$ESSAY_STATE" ] || mkdir -p "$ESSAY_STATE"; }
es_now() { TZ=UTC0 printf -v "$1" '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }
es_snap() { local __t; __t=$(readlink "$ESSAY_STATE/live" 2>/dev/null) || __t=; printf -v "$1" '%s' "${__t##*/}"; }
es_livev() { local __s; es_snap __s; case "$__s" in canary-*) __s=${__s##*-};; esac; printf -v "$1" '%s' "$__s"; }
es_snapshot() { local s; es_snap s; [ -z "$s" ] || echo "$s"; }
es_live() { local s; es_livev s; echo "$s"; }
es_getv() {  # es_getv VAR KEY: the state's value of KEY into VAR ("" if none), no fork
  local __l __v=''; printf -v "$1" '%s' ''; [ -f "$ESSAY_STATE/state" ] || return 0
  while IFS= read -r __l || [ -n "$__l" ]; do
    case "$__l" in "$2="*) __v=${__l#"$2="};; esac
  done < "$ESSAY_STATE/state"
  printf -v "$1" '%s' "$__v"
}
es_get() { local v; es_getv v "$1"; [ -z "$v" ] || printf '%s\n' "$v"; }
es_put() {
  local f="$ESSAY_STATE/state" kv l lines=() keep; es_mkstate
  if [ -f "$f" ]; then while IFS= read -r l || [ -n "$l" ]; do lines+=("$l"); done < "$f"; fi
  for kv in "$@"; do
    keep=(); for l in "${lines[@]}"; do case "$l" in "${kv%%=*}="*) ;; *) keep+=("$l");; esac; done
    lines=("${keep[@]}" "$kv")
  done
  printf '%s\n' "${lines[@]}" > "$f.tmp" && mv -f "$f.tmp" "$f"
}
es_oneline() { printf %s "${1//[$'\t\n\r']/ }"; }
es_fields() {  # es_fields VAR FIELD...: one tab-separated line, each field on one line
  local IFS=$'\t' f=("${@:2}"); f=("${f[@]//[$'\t\n\r']/ }"); printf -v "$1" '%s' "${f[*]}"
}
es_history() {
  local now line; es_mkstate; es_now now
  es_fields line "$now" "$ESSAY_USER" "$1" "${2:--}" "${3:--}" "$4" "${5:-}" \
    "${ESSAY_MESSAGE:-}" "${ESSAY_ENV:--}"
  printf '%s\n' "$line" >> "$ESSAY_STATE/history"
}
es_plain() {
  [ -f "$ESSAY_STATE/colors/$1/$1" ] || { mkdir -p "$ESSAY_STATE/colors/$1" && : > "$ESSAY_STATE/colors/$1/$1"; }
  echo "$1"
}
es_canary() {
  local d="$ESSAY_STATE/colors/canary-$1-$2-$3" i=0
  mkdir -p "$d/canary-$1" && : > "$d/$3"
  while [ "$i" -lt "$2" ]; do : > "$d/canary-$1/$i"; i=$((i + 1)); done
  echo "canary-$1-$2-$3"
}
es_switch() { ln -sfn "colors/$1" "$ESSAY_STATE/live.new" && mv -fT "$ESSAY_STATE/live.new" "$ESSAY_STATE/live"; }
es_lockinfo() {  # es_lockinfo FIELD VAR: a field of lock/info (1 token, 2 who, 3 when, 4 what, 5 msg)
  local l f; printf -v "$2" '%s' ""
  [ -f "$ESSAY_STATE/lock/info" ] || return 0
  IFS= read -r l < "$ESSAY_STATE/lock/info" || [ -n "$l" ] || return 0
  # split by hand: read with IFS=tab would merge empty fields and shift the rest
  for f in 1 2 3 4; do [ "$f" = "$1" ] && { printf -v "$2" '%s' "${l%%$'\t'*}"; return 0; }
    case "$l" in *$'\t'*) l=${l#*$'\t'};; *) l=;; esac; done
  printf -v "$2" '%s' "$l"   # 5: the message and anything after it
}
es_lock() {
  local who when what msg tok now line; es_mkstate
  if mkdir "$ESSAY_STATE/lock" 2>/dev/null; then
    es_now now
    es_fields line "$ESSAY_LOCK_TOKEN" "$ESSAY_USER" "$now" "$ESSAY_COMMAND" "$ESSAY_MESSAGE"
    printf '%s\n' "$line" > "$ESSAY_STATE/lock/info.tmp"
    mv -f "$ESSAY_STATE/lock/info.tmp" "$ESSAY_STATE/lock/info"
    return 0
  fi
  # the holder may have made the directory an instant ago: give it time to say who it is
  for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$ESSAY_STATE/lock/info" ] && break; sleep 0.1; done
  es_lockinfo 1 tok; [ "$tok" = "$ESSAY_LOCK_TOKEN" ] && return 0
  es_lockinfo 2 who; es_lockinfo 3 when; es_lockinfo 4 what; es_lockinfo 5 msg
  echo "locked by ${who:-?} since ${when:-?}: ${what:-?}${msg:+ ($msg)}"
  essay_data locked "${who:-?} since ${when:-?}: ${what:-?}${msg:+ ($msg)}"
  exit 75
}
es_unlock() {
  local tok; [ "${ESSAY_LOCK_KEEP:-0}" = 1 ] && return 0
  es_lockinfo 1 tok; [ "$tok" = "$ESSAY_LOCK_TOKEN" ] && rm -rf "$ESSAY_STATE/lock"
  return 0
}
es_report() {
  local live recorded kv tok info
  live=$(es_live); recorded=$(es_get live)
  if [ "$live" != "$recorded" ]; then
    # repaired only under our own lock: an unlocked write could race a flip's record
    kv="the recorded live colour '${recorded}'"
    es_lockinfo 1 tok
    if [ "$tok" = "$ESSAY_LOCK_TOKEN" ]; then
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
  if [ -f "$ESSAY_STATE/lock/info" ]; then
    IFS= read -r info < "$ESSAY_STATE/lock/info" || true
    info=${info#*$'\t'}; essay_data lock "${info//$'\t'/ }"
  fi
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
