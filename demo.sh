#!/usr/bin/env bash
# The whole essay cycle on this machine, in a few minutes:
#
#   bash demo.sh          install what is missing, then create, build, deploy, flip,
#                         release, roll back -- printing the URL and what it serves
#   bash demo.sh clean    stop everything the demo started and remove its work dir
#
# Everything lives in one work dir, ${ESSAY_DEMO_DIR:-$HOME/essay-demo}:
#
#   venv/         essay, installed from this repository
#   demo/         the project `es create demo` made (its index packages in demo/.essay/)
#   colors/a, b/  the two colours: a virtualenv + supervisord + gunicorn each
#   nginx/        an nginx instance of its own (own config, pid, logs, port 8088);
#                 a system nginx, if there is one, is never touched
#   logs/, run/   the index's log and pid file, the demo's scratch files
#
# This machine is both the web host and the load balancer: the `local` host, no SSH.
# Ports: 8090 (index), 8088 (nginx), 8800-8801 and 8810-8811 (colours a and b); a busy
# one is replaced by the next free one, and the choice is written into essay.toml.
# Needs Debian (or any Linux with nginx, git and python3 >= 3.11 with venv); apt-get
# installs what is missing, through sudo when not root.
set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${ESSAY_DEMO_DIR:-$HOME/essay-demo}
case "$WORK" in /*) ;; *) WORK=$PWD/$WORK ;; esac
WORK=${WORK%/}
VENV=$WORK/venv
PROJECT=$WORK/demo
PREFIX=$WORK/colors
NGX=$WORK/nginx
LOGS=$WORK/logs
RUN=$WORK/run
MARKER=$WORK/.essay-demo          # only a dir holding this file is ever removed
NAME=demo
CLEAN="bash $REPO/demo.sh clean"
if [ -n "${ESSAY_DEMO_DIR:-}" ]; then CLEAN="ESSAY_DEMO_DIR=$WORK $CLEAN"; fi

STEP="start"
bold=""; reset=""
if [ -t 1 ]; then bold=$'\e[1m'; reset=$'\e[0m'; fi

step() { STEP="$1"; printf '\n%s==> %s%s\n' "$bold" "$1" "$reset"; }
say() { printf '    %s\n' "$*"; }
die() {
    printf '\ndemo.sh: %s\n' "$*" >&2
    if [ "$STEP" != start ] && [ -f "$MARKER" ]; then
        printf '(in step "%s") Clean up with: %s\n' "$STEP" "$CLEAN" >&2
    fi
    exit 1
}

on_error() {
    local code=$? line=$1
    [ "$BASH_SUBSHELL" -eq 0 ] || exit "$code"   # reported once, by the main shell
    trap - ERR
    printf '\n%sdemo.sh FAILED%s in step "%s" (line %s, exit status %s).\n' \
        "$bold" "$reset" "$STEP" "$line" "$code" >&2
    printf 'Logs: %s (the index), %s (nginx), %s/*/logs (the colours).\n' \
        "$LOGS/pypi.log" "$NGX/error.log" "$PREFIX" >&2
    printf 'Clean up with: %s\n' "$CLEAN" >&2
    exit "$code"
}

check_workdir() {
    case "$WORK" in
        *[!A-Za-z0-9/._-]*) die "the work dir '$WORK' may only hold letters, digits and / . _ -
(it goes into nginx's and essay's configuration unquoted); set ESSAY_DEMO_DIR to another" ;;
    esac
    local home=${HOME%/}
    if [ "$WORK" = "" ] || [ "$WORK" = "/" ] || [ "$WORK" = "$home" ] || [ "$WORK" = "$REPO" ]; then
        die "refusing to use '$WORK' as the work dir; set ESSAY_DEMO_DIR to a new directory"
    fi
    if [ -e "$WORK" ] && [ ! -f "$MARKER" ] && [ -n "$(ls -A "$WORK" 2>/dev/null)" ]; then
        die "$WORK exists and was not made by demo.sh (no $MARKER); remove it or set ESSAY_DEMO_DIR"
    fi
}

# -- stopping what the demo started: by pid file, and only a process whose command line
#    names the work dir ------------------------------------------------------------------

cmdline() { tr '\0' ' ' 2>/dev/null < "/proc/$1/cmdline" || true; }

PIDS=()    # what stop_all sends TERM to, then waits for

stop_pid() {  # PID WHAT: TERM now, if its command line names the work dir
    local pid=$1 what=$2
    [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 0
    case " ${PIDS[*]-} " in *" $pid "*) return 0 ;; esac
    case "$(cmdline "$pid")" in
        *"$WORK/"*) ;;
        *) say "not stopping pid $pid ($what): its command line does not name $WORK"; return 0 ;;
    esac
    say "stopping $what (pid $pid)"
    kill -TERM "$pid" 2>/dev/null && PIDS+=("$pid")
    return 0
}

alive() { [ -d "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

wait_stopped() {  # every pid in PIDS gone, or KILL after 30s
    local i pid left
    for i in $(seq 150); do
        left=""
        for pid in ${PIDS[@]+"${PIDS[@]}"}; do alive "$pid" && left+=" $pid"; done
        [ -n "$left" ] || return 0
        sleep 0.2
    done
    say "still running after 30s, killed:$left"
    for pid in $left; do kill -KILL "$pid" 2>/dev/null || true; done
}

stop_pidfile() {  # FILE WHAT
    [ -f "$1" ] || return 0
    stop_pid "$(tr -dc 0-9 < "$1")" "$2"
}

stop_all() {
    PIDS=()
    stop_pidfile "$NGX/nginx.pid" "the demo's nginx"
    local f
    for f in "$PREFIX"/*/run/supervisord.pid; do
        [ -f "$f" ] || continue
        stop_pidfile "$f" "supervisord of colour $(basename "$(dirname "$(dirname "$f")")")"
    done
    stop_pidfile "$RUN/pypi.pid" "the package index (es pypi serve)"
    wait_stopped
    # Anything left over (an orphaned gunicorn, a lost pid file): the demo's own kinds of
    # process only, and only those whose command line names the work dir.
    local p cmd
    PIDS=()
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" != $$ ] || continue
        cmd=$(cmdline "$p")
        case "$cmd" in *"$WORK/"*) ;; *) continue ;; esac
        case "$cmd" in
            *supervisord*|*gunicorn*|"nginx: "*|*"pypi serve"*|*pypiserver*) stop_pid "$p" "${cmd:0:70}" ;;
        esac
    done
    wait_stopped
}

clean() {
    check_workdir
    if [ ! -e "$WORK" ]; then
        say "nothing to clean: $WORK does not exist"
        return 0
    fi
    stop_all
    rm -rf "$WORK"
    say "removed $WORK"
}

if [ "${1:-}" = clean ]; then
    step "Cleaning up the demo in $WORK"
    clean
    exit 0
elif [ $# -gt 0 ]; then
    echo "usage: bash demo.sh [clean]" >&2
    exit 2
fi

trap 'on_error $LINENO' ERR
trap 'trap - ERR; printf "\ndemo.sh interrupted in step \"%s\"; clean up with: %s\n" "$STEP" "$CLEAN" >&2; exit 130' INT
START=$SECONDS
check_workdir

# ---------------------------------------------------------------------------------------
step "1/9 Installing what is missing (python3 venv, git, nginx)"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
apt_install() {
    command -v apt-get >/dev/null 2>&1 || return 1
    if [ -n "$SUDO" ] && ! command -v sudo >/dev/null 2>&1; then return 1; fi
    local log; log=$(mktemp)
    say "apt-get install -y $* ${SUDO:+(through sudo)}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >"$log" 2>&1 || {
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"$log" 2>&1 &&
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$log" 2>&1
    } || { tail -n 5 "$log" >&2; rm -f "$log"; return 1; }
    rm -f "$log"
}

PY=""
for cand in /usr/bin/python3 "$(command -v python3 || true)"; do
    [ -n "$cand" ] && [ -x "$cand" ] || continue
    if "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        PY=$cand; break
    fi
done
[ -n "$PY" ] || die "essay needs Python 3.11 or newer as /usr/bin/python3 or python3 on PATH
(Debian 12: apt-get install python3 python3-venv)"
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
    apt_install python3-venv || die "$PY cannot make virtualenvs; install python3-venv
(sudo apt-get install python3-venv) and run demo.sh again"
fi
if ! command -v git >/dev/null 2>&1; then
    apt_install git || die "git is missing; install it (sudo apt-get install git) and run demo.sh again"
fi
NGINX=$(command -v nginx || true)
[ -n "$NGINX" ] || { [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx; } || true
if [ -z "$NGINX" ]; then
    apt_install nginx-light || apt_install nginx || die "nginx is missing and apt-get could not install it.
Install nginx yourself (Debian/Ubuntu: sudo apt-get install nginx-light; Fedora: sudo dnf
install nginx; Arch: sudo pacman -S nginx) and run demo.sh again. The demo runs an nginx
instance of its own on port 8088; it does not use or change a system nginx."
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
    [ -x "$NGINX" ] || die "nginx was installed but is not on PATH nor in /usr/sbin"
    say "(Debian's package may have started its own nginx service on port 80: the demo"
    say " neither uses nor changes it; sudo systemctl disable --now nginx stops it)"
fi
say "python: $PY ($("$PY" -c 'import platform; print(platform.python_version())'))"
say "git:    $(git --version)"
say "nginx:  $NGINX ($("$NGINX" -v 2>&1 | sed 's/.*version: //'))"

# ---------------------------------------------------------------------------------------
step "2/9 Cleaning up a previous demo in $WORK (if any)"
if [ -e "$WORK" ]; then
    stop_all
    rm -rf "$PROJECT" "$PREFIX" "$NGX" "$LOGS" "$RUN" "$WORK/src"
    say "done (the venv is kept and updated)"
else
    say "none"
fi
mkdir -p "$WORK" "$LOGS" "$RUN"
: > "$MARKER"

# ---------------------------------------------------------------------------------------
step "3/9 essay in a virtualenv: $VENV"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c '' 2>/dev/null; then
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
fi
# From a copy of the checkout: pip builds in the source tree, and a stale build/ in the
# repository could end up in the wheel (or not be writable at all).
rm -rf "$WORK/src" && mkdir -p "$WORK/src"
tar -C "$REPO" --exclude=./.git --exclude=./build --exclude=./dist --exclude='*.egg-info' \
    --exclude=__pycache__ --exclude=./.pytest_cache --exclude=./.hypothesis -cf - . |
    tar -C "$WORK/src" -xf -
say "pip install $REPO (log: $LOGS/pip.log)"
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --use-pep517 "$WORK/src" \
        >"$LOGS/pip.log" 2>&1; then
    grep -v '^WARNING: Location' "$LOGS/pip.log" | tail -n 15 >&2
    false
fi
rm -rf "$WORK/src"
ES=$VENV/bin/es
say "$("$ES" --version 2>&1)"

# Free ports: the usual ones unless something else (another demo, a test) holds them.
free_port() {  # START COUNT STEP TAKEN...
    "$VENV/bin/python" - "$@" <<'EOF'
import socket, sys
start, count, step = map(int, sys.argv[1:4])
taken = set(map(int, sys.argv[4:]))
def free(port):
    if port in taken:
        return False
    for addr in ("0.0.0.0", "127.0.0.1"):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True
for base in range(start, min(start + 200 * step, 65536 - count), step):
    if all(free(base + i) for i in range(count)):
        print(base)
        sys.exit(0)
sys.exit(f"no {count} free port(s) from {start}")
EOF
}
PYPI_PORT=$(free_port 8090 1 1)
NGINX_PORT=$(free_port 8088 1 1 "$PYPI_PORT")
PORT_A=$(free_port 8800 2 10 "$PYPI_PORT" "$NGINX_PORT")
PORT_B=$(free_port $((PORT_A + 10)) 2 10 "$PYPI_PORT" "$NGINX_PORT" "$PORT_A" $((PORT_A + 1)))
URL=http://127.0.0.1:$NGINX_PORT/
for want in "index 8090 $PYPI_PORT" "nginx 8088 $NGINX_PORT" "colour-a 8800 $PORT_A" "colour-b 8810 $PORT_B"; do
    set -- $want
    [ "$2" = "$3" ] || say "port $2 ($1) is busy here: using $3 instead"
done

# ---------------------------------------------------------------------------------------
step "4/9 es create $NAME --no-input (in $WORK)"
(cd "$WORK" && "$ES" create "$NAME" --no-input)
cd "$PROJECT"
ident=()
git config user.name >/dev/null || ident+=(-c user.name="essay demo")
git config user.email >/dev/null || ident+=(-c user.email=essay-demo@localhost)

# ---------------------------------------------------------------------------------------
step "5/9 essay.toml for this machine: the local host, prefix, ports, its own nginx"
NGX_CMD="$NGINX -p $NGX -c $NGX/nginx.conf -e $NGX/error.log"
"$VENV/bin/python" - "$PROJECT/essay.toml" <<EOF
import json, re, sys
from pathlib import Path

path = Path(sys.argv[1])
text = path.read_text()

def set_key(text, table, key, value):
    """Set key = value (a TOML literal) in [table], keeping the line's comment."""
    literal = json.dumps(value)
    lines = text.splitlines(keepends=True)
    start = next((i for i, l in enumerate(lines) if re.match(rf"\[{table}\]\s*(#.*)?$", l)), None)
    if start is None:
        return text.rstrip("\n") + f"\n\n[{table}]\n{key} = {literal}\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    pat = re.compile(rf'^({re.escape(key)}\s*=\s*)("[^"]*"|[^#\n]*?)(\s*#.*)?(\n?)$')
    for i in range(start + 1, end):
        m = pat.match(lines[i])
        if m:
            comment = m.group(3) or ""
            lines[i] = f"{m.group(1)}{literal}{comment}{m.group(4)}"
            return "".join(lines)
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    lines.insert(end, f"{key} = {literal}\n")
    return "".join(lines)

settings = [
    ("index", "url", "http://127.0.0.1:$PYPI_PORT/simple/"),
    ("deploy", "prefix", "$PREFIX"),
    ("deploy", "python", "$PY"),
    ("colors", "a", $PORT_A),
    ("colors", "b", $PORT_B),
    ("nginx", "site", "$NGX/conf.d/$NAME.conf"),
    ("nginx", "test", "$NGX_CMD -t"),
    ("nginx", "reload", "$NGX_CMD -s reload"),
    ("nginx", "pid_file", "$NGX/nginx.pid"),
    ("nginx", "listen", $NGINX_PORT),
    ("release", "grace", 3),
]
for table, key, value in settings:
    text = set_key(text, table, key, value)
path.write_text(text)

import essay.config
cfg = essay.config.load(path=path)
got = {("index", "url"): cfg.index_url, ("deploy", "prefix"): cfg.prefix,
       ("deploy", "python"): cfg.python, ("colors", "a"): cfg.colors["a"],
       ("colors", "b"): cfg.colors["b"], ("nginx", "site"): cfg.nginx_site,
       ("nginx", "test"): cfg.nginx_test, ("nginx", "reload"): cfg.nginx_reload,
       ("nginx", "pid_file"): cfg.nginx_pid_file,
       ("nginx", "listen"): cfg.nginx_listen, ("release", "grace"): cfg.release_grace}
bad = [f"[{t}] {k}: wanted {v!r}, essay reads {got[t, k]!r}" for t, k, v in settings
       if got[t, k] != v]
if bad:
    sys.exit("essay.toml was not edited as intended:\n  " + "\n  ".join(bad))
EOF
say "roles: web = lb = [\"local\"] (this machine, no SSH) -- as generated"
git --no-pager diff -U0 essay.toml | grep -E '^[-+][^-+]' | sed 's/^/    /'
git "${ident[@]}" commit -qam "Configure the demo for this machine: local host, own nginx on :$NGINX_PORT"
say "committed: $(git log --oneline -1)"

# ---------------------------------------------------------------------------------------
step "6/9 Starting the package index (es pypi serve) and the demo's nginx"
nohup "$ES" pypi serve >"$LOGS/pypi.log" 2>&1 </dev/null &
echo $! > "$RUN/pypi.pid"
for i in $(seq 100); do
    if "$VENV/bin/python" -c "import urllib.request as u, sys; u.build_opener(u.ProxyHandler({})).open(sys.argv[1], timeout=1)" \
            "http://127.0.0.1:$PYPI_PORT/simple/" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$(cat "$RUN/pypi.pid")" 2>/dev/null || [ "$i" = 100 ]; then
        tail -n 15 "$LOGS/pypi.log" >&2
        die "the package index did not start on port $PYPI_PORT (log: $LOGS/pypi.log)"
    fi
    sleep 0.2
done
say "index: http://127.0.0.1:$PYPI_PORT/simple/ (pid $(cat "$RUN/pypi.pid"), log $LOGS/pypi.log)"

mkdir -p "$NGX/conf.d" "$NGX/tmp"
{
    echo "# The essay demo's own nginx (started and stopped by demo.sh); never the system one."
    echo "# essay writes the site file into conf.d/ at the first flip and reloads this instance."
    if [ "$(id -u)" -eq 0 ]; then
        echo "# Run as root, nginx's workers would be 'nobody', who cannot read the live-colour"
        echo "# marker under $WORK (e.g. /root is mode 700): they run as root instead."
        echo "user root;"
    fi
    cat <<EOF
worker_processes 1;
pid $NGX/nginx.pid;
error_log $NGX/error.log;

events {
    worker_connections 256;
}

http {
EOF
    if [ -f /etc/nginx/mime.types ]; then echo "    include /etc/nginx/mime.types;"; fi
    cat <<EOF
    default_type application/octet-stream;
    access_log $NGX/access.log;
    client_body_temp_path $NGX/tmp/client_body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    include $NGX/conf.d/*.conf;
}
EOF
} > "$NGX/nginx.conf"
$NGX_CMD -t >"$LOGS/nginx-start.log" 2>&1 || { cat "$LOGS/nginx-start.log" >&2; false; }
$NGX_CMD
for i in $(seq 100); do [ -s "$NGX/nginx.pid" ] && break; sleep 0.05; done
[ -s "$NGX/nginx.pid" ] || die "nginx did not start (log: $NGX/error.log)"
say "nginx: $NGX_CMD (pid $(cat "$NGX/nginx.pid")); conf.d/ is empty until the first flip"

# What nginx serves: the colour (essay's X-Essay-Color header) and the page's text.
serves() {  # EXPECTED_COLOUR EXPECTED_TEXT
    local headers=$RUN/headers body=$RUN/body colour text
    if command -v curl >/dev/null 2>&1; then
        curl -sS --noproxy '*' --max-time 5 -D "$headers" -o "$body" "$URL"
    else
        "$VENV/bin/python" - "$URL" "$headers" "$body" <<'EOF'
import sys, urllib.request as u
r = u.build_opener(u.ProxyHandler({})).open(sys.argv[1], timeout=5)
open(sys.argv[2], "w").write("".join(f"{k}: {v}\n" for k, v in r.getheaders()))
open(sys.argv[3], "wb").write(r.read())
EOF
    fi
    colour=$(sed -n 's/^[Xx]-[Ee]ssay-[Cc]olor: *\([a-z0-9]*\).*/\1/p' "$headers")
    text=$(grep -o '<body>.*</body>' "$body" | sed -e 's/<\/h1>/: /' -e 's/<[^>]*>//g')
    say "\$ curl $URL"
    say "$(grep -o '<body>.*</body>' "$body")"
    say "=> colour ${colour:-?} serves \"$text\""
    if [ "$colour" != "$1" ] || [[ "$text" != *"$2"* ]]; then
        die "expected colour $1 serving \"$2\", got colour ${colour:-none} serving \"$text\""
    fi
}

# ---------------------------------------------------------------------------------------
step "7/9 First release by hand: es pypi sync, es build, es deploy, es flip"
say "\$ es pypi sync      # the app's dependencies and supervisor into the index"
"$ES" pypi sync
say "\$ es build"
V1=$("$ES" build | tail -n 1)
say "built version $V1"
say "\$ es deploy $V1 --color a"
"$ES" deploy "$V1" --color a
say "\$ es flip a"
"$ES" flip a
echo
say "URL: $URL"
serves a "version $V1"

# ---------------------------------------------------------------------------------------
step "8/9 Change the app, then es release (build, deploy into b, flip, watch)"
APP=$PROJECT/$NAME/app.py
sed -i 's|<p>version {version}</p>|<p>version {version} — second release</p>|' "$APP"
grep -q 'second release' "$APP" || die "could not edit $APP (the template's index page changed?)"
git --no-pager diff -U0 "$APP" | grep -E '^[-+][^-+]' | sed 's/^/    /'
git "${ident[@]}" commit -qam "Say it is the second release"
say "committed: $(git log --oneline -1)"
say "\$ es release"
V2=$("$ES" release | tail -n 1)
echo
say "URL: $URL"
serves b "version $V2 — second release"

# ---------------------------------------------------------------------------------------
step "9/9 es rollback, es status, es history"
say "\$ es rollback"
"$ES" rollback
echo
say "URL: $URL"
serves a "version $V1"
echo
say "\$ es status"
"$ES" status
echo
say "\$ es history"
"$ES" history

trap - ERR
step "Done in $((SECONDS - START))s"
cat <<EOF
    $URL serves colour a ($NAME $V1); colour b ($V2) is still running beside it.
    Try it yourself:

      . $VENV/bin/activate && cd $PROJECT
      es flip b             # and back: es rollback
      es status; es history; es --help

    Still running: the index (port $PYPI_PORT), nginx (port $NGINX_PORT) and the colours'
    supervisords (ports $PORT_A-$((PORT_A + 1)) and $PORT_B-$((PORT_B + 1))), all under $WORK.
    Stop them all and remove $WORK with:

      $CLEAN
EOF
