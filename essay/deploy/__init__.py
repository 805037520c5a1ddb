"""Stage 3, deploy: a version from the private index into one colour on every web host.

:mod:`essay.deploy.commands` builds what runs on a host (pure functions);
:mod:`essay.deploy.cli` is ``es deploy``: choose the colour, lock, run, report.
"""
