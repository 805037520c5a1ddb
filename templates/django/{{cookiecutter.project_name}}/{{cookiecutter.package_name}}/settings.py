"""Django settings for {{ cookiecutter.project_name }}.

Anything that differs between a laptop and a server comes from the environment. On the
hosts, secrets come from ``es secrets set`` (essay's docs/secrets.md): every process
essay starts runs through the colour's ``essay-exec``, which exports them.

* ``SECRET_KEY``     -- required in production (``DJANGO_SECRET_KEY`` is read too); the
                        same value on every host and colour, or sessions break at a flip
* ``DATABASE_URL``   -- e.g. ``postgres://user:password@host:5432/name`` or
                        ``sqlite:////srv/demo/db.sqlite3``; no database when unset
* ``DJANGO_DEBUG=1`` -- debug pages; never on a public host

``python -m {{ cookiecutter.package_name }} check --deploy`` reviews them for production;
https://docs.djangoproject.com/en/stable/ref/settings/ lists every setting.
"""
import os
from urllib.parse import unquote, urlsplit

# INSECURE FALLBACK, FOR DEVELOPMENT ONLY: it is in git, so anyone can forge signed data
# with it. `es secrets set SECRET_KEY` puts the real one on every host.
SECRET_KEY = (os.environ.get("SECRET_KEY") or os.environ.get("DJANGO_SECRET_KEY")
              or "django-insecure-development-only-do-not-use-in-production")

DEBUG = os.environ.get("DJANGO_DEBUG", "").lower() in ("1", "true", "yes", "on")

# nginx in front decides which host names reach the app.
ALLOWED_HOSTS = ["*"]



def database(url: str) -> dict:
    """``DATABASE_URL`` -> a DATABASES entry (postgres://, postgresql://, sqlite:///)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": parts.path[1:] or ":memory:"}
    if parts.scheme in ("postgres", "postgresql"):
        return {"ENGINE": "django.db.backends.postgresql", "NAME": parts.path.lstrip("/"),
                "USER": unquote(parts.username or ""), "PASSWORD": unquote(parts.password or ""),
                "HOST": parts.hostname or "", "PORT": str(parts.port or "")}
    raise ValueError(f"DATABASE_URL: unsupported scheme {parts.scheme!r} "
                     "(postgres://, postgresql:// or sqlite:///)")


# No apps that need a database yet; add them when you do.
INSTALLED_APPS = []
DATABASES = {"default": database(os.environ["DATABASE_URL"])} \
    if os.environ.get("DATABASE_URL") else {}

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "{{ cookiecutter.package_name }}.urls"
WSGI_APPLICATION = "{{ cookiecutter.package_name }}.wsgi.application"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
