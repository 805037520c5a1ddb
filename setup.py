"""Packaging for essay.

The cookiecutter templates live in ``templates/`` at the top of the repository and are
shipped inside the installed package as ``essay.templates`` (see ``package_dir``), so
``es create`` works from a wheel as well as from a checkout.
"""
from setuptools import find_packages, setup

# `es server`: the web app, its sessions and CSRF, its store and its queue (docs/server.md)
SERVER = ["flask>=3.0", "flask-login>=0.6", "flask-wtf>=1.2", "sqlalchemy>=2.0",
          "huey>=2.5", "redis>=5.0"]

setup(
    name="essay",
    version="0.1.0",
    description="Packaging and blue/green deploys for Python web projects, on Fabric",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["essay", "essay.*"]) + ["essay.templates"],
    package_dir={"essay.templates": "templates"},
    include_package_data=True,
    package_data={"essay": ["*/*.sh"]},   # shell run on hosts (shellcheck reads it there)
    install_requires=[
        "fabric>=3.2",
        "invoke>=2.2",
        "paramiko>=3.4",
        "jinja2>=3.1",
        "cookiecutter>=2.6",
        "build>=1.2",
        "twine>=5.1",
        "pypiserver>=2.4",        # app_from_config, setup_routes_from_config
        "libpass>=1.9",          # passlib, maintained: works with bcrypt 4.1+
        "waitress>=3.0",         # the index's server (es pypi serve: [index] threads)
        "packaging>=24.0",
        "rich>=13.0",            # the live progress view on a terminal
    ],
    extras_require={
        "uv": ["uv>=0.4.23"],
        "server": SERVER,
        # everything the tests import, including what the templates' own tests import
        "test": ["pytest>=8.0", "hypothesis>=6.100", "supervisor>=4.2", "uv>=0.4.23",
                 "flask>=2.3", "django>=4.2", "gunicorn>=23", *SERVER, "selenium>=4.15",
                 "whitenoise>=6.5", "dj-database-url>=2.1", "markupsafe>=2.1"],
    },
    entry_points={"console_scripts": ["es = essay.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Environment :: Console",
        "Topic :: System :: Software Distribution",
    ],
)
