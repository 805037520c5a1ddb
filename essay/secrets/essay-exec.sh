#!/bin/sh
# essay-exec: run a command of one colour with its environment and the project's secrets.
#
#   {prefix}/{colour}/bin/essay-exec CMD [ARG ...]
#
# Installed by essay into every colour at deploy (essay/secrets/essay-exec.sh); the
# supervisord programs, deploy hooks and essay's other commands on the host run through it.
# It exports, then execs CMD (so CMD gets this process's pid, and signals):
#   - every secret in {prefix}/secrets.env (0600, outside both colours; `es secrets`),
#   - ESSAY_COLOR, ESSAY_VERSION, ESSAY_ENV, ... from {prefix}/{colour}/etc/essay.env
#     (written at deploy; these win over a secret of the same name).
# Both files hold lines NAME=BASE64 (the value, base64-encoded: any bytes, one line).
# Values are read here and never written to argv or output.
set -eu

colour_dir=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
prefix=$(dirname -- "$colour_dir")

essay_load() {
  [ -f "$1" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    name=${line%%=*}
    case "$name" in
      '' | [0-9]* | *[!A-Za-z0-9_]*) continue ;;
    esac
    value=$(printf '%s' "${line#*=}" | base64 -d; printf .)
    export "$name=${value%.}"
  done < "$1"
}

essay_load "$prefix/secrets.env"
essay_load "$colour_dir/etc/essay.env"
unset line name value colour_dir prefix

if [ "$#" -eq 0 ]; then
  echo "usage: essay-exec CMD [ARG ...]" >&2
  exit 2
fi
exec "$@"
