"""Fabric tasks for this project: `fab -l` lists them, `fab rollback` runs one.

They are essay's own commands -- `fab rollback` and `es rollback` are one code path.
Register deploy hooks here, e.g.:

    from essay import hooks

    @hooks.post_deploy
    def migrate(ctx):   # after the new version is installed and healthy in the idle colour
        return f"python -m {ctx.package} migrate"   # runs on each host, in the colour's venv
"""
from essay.fabtasks import namespace  # noqa: F401
