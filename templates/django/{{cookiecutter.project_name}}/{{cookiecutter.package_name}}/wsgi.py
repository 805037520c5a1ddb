"""The entry point the process manager serves: ``gunicorn {{ cookiecutter.package_name }}.wsgi:application``.

Keep the name ``application``: essay's supervisord config points gunicorn at it.
"""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{{ cookiecutter.package_name }}.settings")

application = get_wsgi_application()
