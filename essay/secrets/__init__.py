"""Secrets and the host-side exec wrapper.

* :mod:`essay.secrets.host` -- what lives on a web host: the exec wrapper
  (``essay-exec.sh``, installed into every colour at deploy), the colour's ``essay.env``
  and the environment's ``{prefix}/secrets.env`` (0600, outside both colours);
* :mod:`essay.secrets.commands` -- ``es secrets`` as data: stage/commit/list scripts;
* :mod:`essay.secrets.cli` -- ``es secrets set|unset|list``.
"""
