# es doctor on an lb host. Sourced into one step of essay's script (essay_data is defined
# there, and es_nginx_master from essay/flip/reload.sh); reads DOCTOR_TEST,
# DOCTOR_RELOAD_CHECK, DOCTOR_PID_FILE, DOCTOR_STATE. Reports:
# doctor_report NAME ok|fail DETAIL, one per check.
# shellcheck shell=bash

doctor_report() { essay_data check "$1 $2 ${3-}"; }

if out=$(eval "$DOCTOR_TEST" 2>&1 </dev/null); then
  doctor_report nginx-test ok "$(printf %s "$out" | tail -n 1)"
else
  doctor_report nginx-test fail "$(printf %s "$out" | tail -n 1)"
fi
if out=$(eval "$DOCTOR_RELOAD_CHECK" 2>&1 </dev/null); then
  doctor_report nginx-reload ok "runnable"
else
  doctor_report nginx-reload fail "$(printf %s "${out:-not runnable}" | tail -n 1)"
fi
if [ -n "${DOCTOR_PID_FILE:-}" ]; then
  pid_file=${DOCTOR_PID_FILE/#\~/$HOME}
  title=
  if master=$(es_nginx_master "$pid_file"); then
    { IFS= read -r -d '' title < "/proc/$master/cmdline"; } 2>/dev/null || true
  fi
  case "$title" in
    "nginx: master process"*) doctor_report nginx-pid ok "nginx's master is pid $master";;
    *) doctor_report nginx-pid fail "$DOCTOR_PID_FILE names no running nginx master";;
  esac
fi
# nginx's worker user: as root (sudo) the config's `user` (default nobody); else whoever
# runs nginx -- this user
worker=$(id -un)
case "$DOCTOR_TEST" in
  sudo\ *)
    worker=$(eval "${DOCTOR_TEST/ -t/ -T}" 2>/dev/null </dev/null \
      | sed -n 's/^[[:space:]]*user[[:space:]]\{1,\}\([^;[:space:]]*\).*/\1/p' | head -n 1)
    worker=${worker:-nobody};;
esac
if ! command -v python3 >/dev/null 2>&1; then
  doctor_report python3 fail "python3 is not on PATH (flips check health with it)"
else
  doctor_report python3 ok "$(python3 -c 'import sys; print(sys.version.split()[0])')"
  doctor_report state-dir "$(python3 - "$DOCTOR_STATE" "$worker" <<'PY'
import grp, os, pwd, stat, sys
path, user = os.path.abspath(os.path.expanduser(sys.argv[1])), sys.argv[2]
try:
    pw = pwd.getpwnam(user)
except KeyError:
    print(f"fail nginx's worker user {user!r} does not exist here"); sys.exit()
groups = {g.gr_gid for g in grp.getgrall() if user in g.gr_mem} | {pw.pw_gid}
d = path
while d != "/" and not os.path.exists(d):   # not made yet: its parents must be traversable
    d = os.path.dirname(d)
while True:
    st = os.stat(d)
    bit = (stat.S_IXUSR if st.st_uid == pw.pw_uid else
           stat.S_IXGRP if st.st_gid in groups else stat.S_IXOTH)
    if pw.pw_uid != 0 and not st.st_mode & bit:
        print(f"fail nginx's workers run as {user} and cannot enter {d} (mode "
              f"{stat.S_IMODE(st.st_mode):o}): chmod o+x {d}, or set [nginx] state_dir to "
              "a directory they can read"); sys.exit()
    if d == "/":
        break
    d = os.path.dirname(d)
print(f"ok readable by nginx's workers ({user})")
PY
)"
fi
