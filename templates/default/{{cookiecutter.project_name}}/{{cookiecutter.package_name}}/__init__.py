"""{{ cookiecutter.project_name }}: {{ cookiecutter.description }}

``NAME`` is the distribution name (what ``pip install`` and essay call the project);
``__version__`` comes from :mod:`._release`, which ``es build`` fills in.
"""
from ._release import version as __version__

NAME = "{{ cookiecutter.project_name }}"

__all__ = ["NAME", "__version__"]
