"""``es doctor``: the pre-flight a newcomer needs -- what is wrong, where, how to fix it.

* :mod:`essay.doctor.checks` -- the checks as data: local ones (essay.toml, the project's
  files via :mod:`essay.projectcheck`, ``conf/*.j2`` via :mod:`essay.conf_check`, a
  loopback index URL with remote hosts) and the script each host runs;
* ``web.sh`` / ``lb.sh`` -- the shell a web / lb host runs (package data, shellcheck'd);
* :mod:`essay.doctor.cli` -- ``es doctor``: run, print one row per host and check, exit 0
  only when everything passed.
"""
