"""essay: package a Python web project, publish it to a private index, deploy it into
one colour of a blue/green pair on every host, and flip nginx between the colours.

The pipeline, one module per stage:

* :mod:`essay.create`   -- ``es create`` / ``es init``: a project from a template
* :mod:`essay.build`    -- ``es build``: a git ref becomes a versioned sdist + wheel
* :mod:`essay.pypi`     -- ``es pypi serve`` / ``es pypi sync``: the private index
* :mod:`essay.deploy`   -- ``es deploy``: a version into a colour on every web host
* :mod:`essay.flip`     -- ``es flip`` / ``es rollback``: move traffic between colours

Remote work is built as data (:mod:`essay.remote.script`) and run by one executor
(:mod:`essay.remote.executor`).
"""

__version__ = "0.1.0"
