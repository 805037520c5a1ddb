"""The entry point the process manager serves: ``gunicorn {{ cookiecutter.package_name }}.wsgi:application``.

Keep the name ``application``: essay's supervisord config points gunicorn at it.
"""
from .app import app as application

__all__ = ["application"]
