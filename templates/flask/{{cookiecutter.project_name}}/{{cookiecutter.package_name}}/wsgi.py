"""The entry point the process manager serves: ``gunicorn {{ cookiecutter.package_name }}.wsgi:application``.

Keep the name ``application``: essay's supervisord config points gunicorn at it. For the
development server: ``flask --app {{ cookiecutter.package_name }}.wsgi run --debug``.
"""
from . import create_app

application = create_app()
