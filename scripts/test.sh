#!/usr/bin/env bash
# The test command: installs what the tests need, then runs them all.
#   bash scripts/test.sh            # everything (the rig needs root: network namespaces, sshd)
#   bash scripts/test.sh -k flip    # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
exec python3 -m pytest "$@"
