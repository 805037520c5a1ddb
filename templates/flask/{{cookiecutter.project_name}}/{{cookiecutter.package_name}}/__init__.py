"""{{ cookiecutter.project_name }}: {{ cookiecutter.description }}

A Flask app made by an *application factory*: :func:`create_app` builds a new app each
time it is called, so tests can make one with their own settings and production makes
one in :mod:`.wsgi`. ``NAME`` is the distribution name; ``__version__`` comes from
:mod:`._release`, which ``es build`` fills in.
"""
from flask import Flask

from ._release import version as __version__

NAME = "{{ cookiecutter.project_name }}"

__all__ = ["NAME", "__version__", "create_app"]


def create_app(config=None):
    """Build the app. ``config`` (a dict) overrides settings, e.g. ``{"TESTING": True}``."""
    app = Flask(__name__)
    app.config.from_prefixed_env()      # FLASK_SECRET_KEY=... sets SECRET_KEY, and so on
    if config:
        app.config.update(config)

    from . import views
    app.register_blueprint(views.bp)
    return app
