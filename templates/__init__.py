"""essay's project templates (cookiecutter) and the common files es init adds."""
