"""Django settings for {{ cookiecutter.project_name }}.

Anything that differs between a laptop and a server comes from the environment -- on the
hosts, from essay's secrets (``es secrets``), never from a file in git:

* ``DATABASE_URL``       -- e.g. ``postgres://user:password@db.internal:5432/{{ cookiecutter.package_name }}``;
  without it, a SQLite file ``db.sqlite3`` in the working directory (development only)
* ``SECRET_KEY``         -- required on a host (``DJANGO_SECRET_KEY`` is read too): without
  it the app refuses to start there (unless ``DJANGO_DEBUG``); the same value on every
  host and colour, or sessions break at a flip
* ``DJANGO_ALLOWED_HOSTS`` -- comma-separated host names nginx passes on (default ``*``),
  and essay.toml's ``[deploy] health_host`` (``localhost``): ``shop.example.com,localhost``
* ``DJANGO_CSRF_TRUSTED_ORIGINS`` -- comma-separated origins, e.g. ``https://example.com``
* ``DJANGO_DEBUG=1``     -- debug pages; never on a public host
* ``DJANGO_MEDIA_ROOT``  -- where uploads go: storage every web host shares (below)

Static files are collected per colour when the colour's processes start (wsgi.py) and
served by WhiteNoise with hashed names (storage.py); ``/media/`` (uploads) lives outside
the colours and is served by the app (urls.py). essay's docs/django.md explains both. ``python -m {{ cookiecutter.package_name }} check --deploy``
reviews the settings for production.
"""
import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent
DEBUG = os.environ.get("DJANGO_DEBUG", "").lower() in ("1", "true", "yes", "on")
# essay runs every process on a host through the colour's essay-exec, which sets ESSAY_COLOR
ON_HOST = "ESSAY_COLOR" in os.environ

SECRET_KEY = os.environ.get("SECRET_KEY") or os.environ.get("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if ON_HOST and not DEBUG:   # never the fallback below on a server, silently
        raise ImproperlyConfigured(
            "SECRET_KEY is not set on this host: run `es secrets set SECRET_KEY` (the same "
            "value on every host), then deploy; DJANGO_DEBUG=1 allows the development key")
    # INSECURE FALLBACK, FOR DEVELOPMENT ONLY (a checkout, the tests): it is in git, so
    # anyone can forge signed data with it.
    SECRET_KEY = "django-insecure-development-only-do-not-use-in-production"


def _list(name, default=""):
    return [v.strip() for v in os.environ.get(name, default).split(",") if v.strip()]


# nginx passes the client's Host header on; name the hosts you serve in production.
# essay's health checks send [deploy] health_host: keep it in this list.
ALLOWED_HOSTS = _list("DJANGO_ALLOWED_HOSTS", "*")
CSRF_TRUSTED_ORIGINS = _list("DJANGO_CSRF_TRUSTED_ORIGINS")
# behind the lb: trust its X-Forwarded-Proto for "is this request https?"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "{{ cookiecutter.package_name }}",      # its static/ directory: {{ cookiecutter.package_name }}/site.css
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "{{ cookiecutter.package_name }}.storage.ColourStaticMiddleware",   # WhiteNoise, for two colours
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "{{ cookiecutter.package_name }}.urls"
WSGI_APPLICATION = "{{ cookiecutter.package_name }}.wsgi.application"

TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]

# The database lives outside the colours: both colours use the same one, so migrations
# must suit the old and the new code at once (expand/contract: essay's docs/deploy.md).
DATABASES = {"default": dj_database_url.config(default="sqlite:///db.sqlite3",
                                               conn_max_age=60)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# On a host, sys.prefix is the colour's virtualenv, {prefix}/{colour}: static files go
# next to the colours, in {prefix}/static, shared by both (hashed names never collide, and
# earlier versions' files stay), so a page from either colour finds its assets during a
# flip. Each colour keeps its own manifest (storage.py). Elsewhere (a checkout),
# ./staticfiles.
STATIC_URL = "/static/"
STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT") or (
    str(Path(sys.prefix).parent / "static") if ON_HOST else str(Path.cwd() / "staticfiles"))
# a stat per static request: development only. On a host, ColourStaticMiddleware finds
# the files the other colour collected after this process started (storage.py).
WHITENOISE_AUTOREFRESH = DEBUG
# uploads: outside the colours, served by the app at /media/ (urls.py); with several web
# hosts, DJANGO_MEDIA_ROOT must be storage they all share (docs/django.md)
MEDIA_URL = "/media/"
MEDIA_ROOT = os.environ.get("DJANGO_MEDIA_ROOT") or (
    str(Path(sys.prefix).parent / "media") if ON_HOST else str(Path.cwd() / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "{{ cookiecutter.package_name }}.storage.ColourManifestStorage"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
