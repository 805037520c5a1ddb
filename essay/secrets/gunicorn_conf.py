# gunicorn.conf.py -- written by essay into each colour's directory (essay/secrets/
# gunicorn_conf.py); do not edit: the next deploy writes it again.
#
# gunicorn reads ./gunicorn.conf.py when started without -c, and the colour's directory is
# its working directory. When only the project's own distribution changed, essay reloads
# gunicorn (SIGHUP: new workers import the app anew, the master and its socket stay)
# instead of restarting it. The new workers are forks of the master, whose environment
# essay-exec set when it started, for an earlier deploy: this hook reads the colour's
# environment again in every worker, before the app is imported -- as essay-exec does:
# {prefix}/secrets.env, then etc/essay.env (ESSAY_VERSION ...), lines NAME=BASE64.
# (A secret removed since the master started needs a cold restart: essay does one.)
import base64
import os
import re


def _load(path):
    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return
    for line in lines:
        name, sep, value = line.partition(b"=")
        if sep and re.fullmatch(rb"[A-Za-z_][A-Za-z0-9_]*", name):
            os.environb[name] = base64.b64decode(value)


def post_fork(server, worker):
    here = os.path.dirname(os.path.abspath(__file__))
    _load(os.path.join(os.path.dirname(here), "secrets.env"))
    _load(os.path.join(here, "etc", "essay.env"))
