"""The entry point the process manager serves: ``gunicorn {{ cookiecutter.package_name }}.wsgi:application``
(essay.toml ``[deploy] app``, default ``{{ cookiecutter.package_name }}.wsgi:application``).

On a host (``ESSAY_COLOR`` set), the first process of a colour to start collects the
static files of this version into ``STATIC_ROOT`` -- before it serves anything, so before
essay's health check passes; the others wait for it (a file lock) and find it done. Then
the application is made: its static files middleware reads ``STATIC_ROOT`` as collected.
"""
import os

import django
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{{ cookiecutter.package_name }}.settings")


def collect_static():
    import fcntl
    from pathlib import Path

    from django.conf import settings
    from django.core.management import call_command

    from . import _release

    root = Path(settings.STATIC_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    stamp = root / f".collected-{os.environ['ESSAY_COLOR']}-{_release.version}"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            call_command("collectstatic", interactive=False, verbosity=0)
            stamp.touch()


if "ESSAY_COLOR" in os.environ:
    django.setup(set_prefix=False)
    collect_static()

application = get_wsgi_application()
