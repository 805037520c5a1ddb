"""Fabric tasks for this project: `fab -l` lists them, `fab rollback` runs one.

They are essay's own commands -- `fab rollback` and `es rollback` are one code path.
Register deploy hooks here, e.g.:

    from essay import hooks

    @hooks.post_deploy
    def warm(ctx):   # after the new version is installed and healthy in the idle colour
        return f"python -m {ctx.package}.warm_cache"   # on each host, in the colour's venv

Migrations are not a hook (hooks run on every host): essay.toml [deploy] release.
"""
from essay.fabtasks import namespace  # noqa: F401
