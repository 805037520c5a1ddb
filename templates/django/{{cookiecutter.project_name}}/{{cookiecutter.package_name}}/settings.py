"""Django settings for {{ cookiecutter.project_name }}.

Anything that differs between a laptop and a server comes from the environment (set it
in essay's conf/supervisord.conf.j2 for the hosts):

* ``DJANGO_SECRET_KEY`` -- required in production; see below
* ``DJANGO_DEBUG=1``    -- debug pages; never on a public host

``python -m {{ cookiecutter.package_name }} check --deploy`` reviews them for production;
https://docs.djangoproject.com/en/stable/ref/settings/ lists every setting.
"""
import os

# INSECURE FALLBACK, FOR DEVELOPMENT ONLY: it is in git, so anyone can forge signed data
# with it. Set DJANGO_SECRET_KEY on every host (the same value on all of them).
SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "django-insecure-development-only-do-not-use-in-production")

DEBUG = os.environ.get("DJANGO_DEBUG", "").lower() in ("1", "true", "yes", "on")

# nginx in front decides which host names reach the app.
ALLOWED_HOSTS = ["*"]

# No database and no apps that need one; add them (and DATABASES) when you do.
INSTALLED_APPS = []
DATABASES = {}

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
