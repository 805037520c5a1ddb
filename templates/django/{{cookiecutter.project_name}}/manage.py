#!/usr/bin/env python
"""Django's command-line utility, e.g. ``python manage.py runserver``."""
from {{ cookiecutter.package_name }}.__main__ import main

if __name__ == "__main__":
    main()
