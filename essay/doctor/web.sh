# es doctor on a web host. Sourced into one step of essay's script (essay_data is defined
# there); reads DOCTOR_PYTHON, DOCTOR_INSTALLER, DOCTOR_PROJECT and ESSAY_INDEX_URL (the
# index URL may hold a password: it is exported in the script essay sends on stdin, never
# on a command line). Reports one line per check: doctor_report NAME ok|fail DETAIL.
# shellcheck shell=bash

doctor_report() { essay_data check "$1 $2 ${3-}"; }

if ! command -v "$DOCTOR_PYTHON" >/dev/null 2>&1; then
  doctor_report python fail "$DOCTOR_PYTHON is not on PATH"
else
  doctor_report python ok "$("$DOCTOR_PYTHON" -c 'import sys; print(sys.version.split()[0])' 2>&1)"
  if [ "$DOCTOR_INSTALLER" = uv ]; then
    if command -v uv >/dev/null 2>&1; then
      doctor_report venv ok "uv $(uv --version 2>/dev/null | cut -d' ' -f2)"
    else
      doctor_report venv fail "uv is not on PATH"
    fi
  elif out=$("$DOCTOR_PYTHON" -c 'import venv, ensurepip' 2>&1); then
    doctor_report venv ok "venv and ensurepip importable"
  else
    doctor_report venv fail "$(printf %s "$out" | tail -n 1)"
  fi
  # the index, from this host: what pip will see
  out=$("$DOCTOR_PYTHON" - "$DOCTOR_PROJECT" 2>&1 <<'PY'
import base64, os, sys, urllib.error, urllib.parse, urllib.request
url = os.environ["ESSAY_INDEX_URL"].rstrip("/") + "/" + sys.argv[1] + "/"
p = urllib.parse.urlsplit(url)
req = urllib.request.Request(urllib.parse.urlunsplit(
    (p.scheme, p.netloc.rpartition("@")[2], p.path, "", "")))
if p.username is not None:
    creds = f"{urllib.parse.unquote(p.username)}:{urllib.parse.unquote(p.password or '')}"
    req.add_header("Authorization", "Basic " + base64.b64encode(creds.encode()).decode())
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        print(f"ok answered {r.status}")
except urllib.error.HTTPError as e:
    print(("fail answered %d %s: check the user and password in [index] url" if e.code in
           (401, 403) else "ok answered %d %s") % (e.code, e.reason))
except Exception as e:
    print(f"fail unreachable ({getattr(e, 'reason', e)})")
PY
) || out="fail $DOCTOR_PYTHON could not run the check"
  doctor_report index "${out%% *}" "${out#* }"
fi
