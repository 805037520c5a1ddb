"""{{ cookiecutter.project_name }}: {{ cookiecutter.description }}

A Django project: settings in :mod:`.settings`, routes in
:mod:`.urls`, views in :mod:`.views`. ``NAME`` is the distribution name;
``__version__`` comes from :mod:`._release`, which ``es build`` fills in.
"""
from ._release import version as __version__

NAME = "{{ cookiecutter.project_name }}"

__all__ = ["NAME", "__version__"]
