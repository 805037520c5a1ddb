"""``python -m {{ cookiecutter.package_name }} <command>`` runs Django's management commands
(what ``manage.py`` does), from a checkout or from the installed package on a host --
e.g. ``python -m {{ cookiecutter.package_name }} check --deploy``.
"""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "{{ cookiecutter.package_name }}.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
