"""A push to ``[server] branch``: fetch the commit, test it in a clean export, build and
publish it, deploy it into the idle colour of ``[server] environment``, flip if
``[server] flip = true``. Each stage is the function ``es`` uses (build, deploy, flip);
the job's log shows every stage and the tests' own output."""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

from essay.errors import EssayError
from essay.server.settings import SECRET_VAR

SHA = re.compile(r"[0-9a-f]{40}")


def fetch(root: Path, sha: str, rep) -> None:
    """Make ``sha`` present in the project's repository: from ``origin`` if it has one."""
    from essay.build import git

    if "origin" in git(root, "remote").split():
        rep.info(f"git fetch origin {sha}")
        proc = subprocess.run(["git", "-C", str(root), "fetch", "--quiet", "origin", sha],
                              capture_output=True, text=True)
        if proc.returncode != 0:   # servers that refuse a fetch by sha: all branches
            git(root, "fetch", "--quiet", "origin")
    if subprocess.run(["git", "-C", str(root), "cat-file", "-e", f"{sha}^{{commit}}"],
                      capture_output=True).returncode != 0:
        raise EssayError(f"commit {sha} is not in {root}"
                         + (" nor on origin" if "origin" in git(root, "remote").split() else
                            " (and it has no origin to fetch it from)"))


def test(root: Path, sha: str, argv: list[str], rep) -> bool:
    """Run the test command in a clean export of ``sha``; its output into the log."""
    from essay.build import export

    env = {k: v for k, v in os.environ.items()
           if k not in (SECRET_VAR, "TWINE_PASSWORD", "TWINE_USERNAME")}
    with tempfile.TemporaryDirectory(prefix="essay-test-") as d:
        export(root, sha, Path(d))
        rep.info(f"test: {' '.join(argv)} (in a clean export of {sha[:12]})")
        try:
            proc = subprocess.Popen(argv, cwd=d, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True,
                                    stdin=subprocess.DEVNULL)
        except OSError as e:
            rep.info(f"test: cannot run {argv[0]}: {e.strerror}")
            return False
        for line in proc.stdout:
            rep.info("  " + line.rstrip("\n"))
        return proc.wait() == 0


def run(job, ctx, settings) -> int:
    from essay.build import build
    from essay.deploy.cli import deploy
    from essay.flip.cli import cli_flip

    p, rep = job.args, ctx.reporter
    sha = p.get("after", "")
    if not SHA.fullmatch(sha):
        raise EssayError(f"the push names commit {sha!r}, expected 40 hex digits")
    fetch(settings.root, sha, rep)
    if settings.test and not test(settings.root, sha, settings.test, rep):
        rep.outcome(f"tests failed on {sha[:12]}: nothing was built or deployed", ok=False)
        return 1
    version = build(ctx, ref=sha)
    rep.info(f"built and published {ctx.cfg.name} {version}")
    message = f"essay server job {job.id}: push {sha[:12]}"
    code, color, version = deploy(ctx, version, message=message)
    if code != 0:
        return code
    if not settings.flip:
        rep.outcome(f"{version} is in colour {color}; [server] flip is off: not flipped")
        return 0
    return cli_flip(ctx, color, message=message)
