# shellcheck shell=bash
# es_nginx_reload CMD PID_FILE TIMEOUT_MS [TIMEOUT_SHOWN]: run [nginx] reload (CMD), then wait until nginx has
# finished it. `nginx -s reload` only signals the master: until the master has started
# new workers and told the old ones to stop accepting, a new connection may still be
# answered with the previous config. Done when every child of the master titled
# "nginx: worker process" is one that was not there before the reload (an old worker
# retitles itself "... is shutting down" as it stops accepting). PID_FILE empty: no wait.
# Exit 7: CMD failed; 8: PID_FILE names no running nginx; 12: no new workers in TIMEOUT_MS.

# es_nginx_master PID_FILE: the master's pid, if the file names a live process
es_nginx_master() {
  local pid
  pid=
  { IFS= read -r pid < "$1"; } 2>/dev/null || [ -n "$pid" ] || return 1
  case "$pid" in ''|*[!0-9]*) return 1;; esac
  [ -d "/proc/$pid" ] || return 1
  printf '%s\n' "$pid"
}

# es_nginx_workers MASTER: the pids of its children titled "nginx: worker process"
es_nginx_workers() {
  local f pid title='' kids
  for f in /proc/"$1"/task/*/children; do
    kids=()
    { read -r -a kids < "$f"; } 2>/dev/null || true   # no newline at its end: status 1
    for pid in "${kids[@]}"; do
      title=''   # a worker that exits first leaves no cmdline to read (set -u)
      { IFS= read -r -d '' title < "/proc/$pid/cmdline"; } 2>/dev/null || true
      [ "$title" != "nginx: worker process" ] || printf '%s ' "$pid"
    done
  done
}

es_nginx_reload() {
  local cmd=$1 pid_file=$2 ms=$3 shown=${4:-$3 ms} master='' old='' now pid fresh end
  if [ -n "$pid_file" ]; then
    if ! master=$(es_nginx_master "$pid_file"); then
      echo "[nginx] pid_file $pid_file names no running nginx: set it to the path of nginx's" \
           "pid directive (essay waits on it for a reload to finish), or to \"\" not to wait"
      return 8
    fi
    old=" $(es_nginx_workers "$master")"
  fi
  if ! ( eval "$cmd" ) 2>&1 </dev/null; then
    echo "nginx reload failed ([nginx] reload = '$cmd'); if that command cannot run on this" \
         "host, change [nginx] reload in essay.toml"
    return 7
  fi
  [ -n "$pid_file" ] || return 0
  end=$(( ${EPOCHREALTIME/[.,]/} + ms * 1000 ))
  while :; do
    # a restart (not a reload) makes a new master: its workers are all new
    now='' fresh=1
    master=$(es_nginx_master "$pid_file") && now=$(es_nginx_workers "$master")
    for pid in $now; do
      case "$old " in *" $pid "*) fresh=0;; esac
    done
    if [ -n "$now" ] && [ "$fresh" = 1 ]; then
      return 0
    fi
    if [ "${EPOCHREALTIME/[.,]/}" -ge "$end" ]; then
      echo "nginx did not start new worker processes within $shown of the reload" \
           "([nginx] reload_timeout): it may still run the previous config (see nginx's" \
           "error log)"
      return 12
    fi
    sleep 0.01
  done
}
