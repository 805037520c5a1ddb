"""Remote work as data, and the one executor that runs it.

* :mod:`essay.remote.shell`    -- quoting helpers: every interpolated value goes through them
* :mod:`essay.remote.script`   -- :class:`Step` and :class:`Script`: what to run, as data
* :mod:`essay.remote.hosts`    -- host strings, ``local``, ssh_config aliases and addresses
* :mod:`essay.remote.executor` -- runs one script per host, in parallel, one round trip each
"""
