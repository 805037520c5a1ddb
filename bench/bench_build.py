"""Benchmark: ``es build --no-upload`` against ``python -m build`` on the same clean tree.

A project is made with ``es create`` (default template) in a temporary directory. Each
round runs, one after the other:

* ``es build --no-upload --version <unique>`` in the project (it git-archives HEAD into a
  temporary tree, stamps the version, builds sdist + wheel-from-sdist, twine-checks);
* ``python -m build`` (sdist, then the wheel from the sdist) on a fresh ``git archive`` of
  the same commit, into a fresh output directory;
* ``python -m build --installer uv`` the same way, when uv is on PATH (es build uses uv for
  its isolated environment when it is there, so this is the like-for-like comparison).

The tools alternate inside every round so that drift (caches, load) hits them alike; one
warm-up round is not counted. The result is the medians and ``ratio`` =
median(es build) / median(python -m build); the goal is ratio <= 1.2.

Run it: ``python3 bench/bench_build.py [--rounds N] [--json]``; it never fails (exit 0),
errors are reported in the result. Import it: ``from bench.bench_build import run``
(or with bench/ on sys.path, ``from bench_build import run``); ``run()`` returns the dict.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

GOAL = 1.2
REPO = Path(__file__).resolve().parent.parent


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINE_")}
    env["NO_COLOR"] = "1"
    # the essay of this checkout, even when it is not installed
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _timed(argv, cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {proc.returncode}:\n"
                           f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return elapsed


def _archive(project: Path, dest: Path) -> Path:
    """A clean tree of the project's HEAD (what es build builds from)."""
    dest.mkdir(parents=True)
    git = subprocess.Popen(["git", "-C", str(project), "archive", "--format=tar", "HEAD"],
                           stdout=subprocess.PIPE)
    with tarfile.open(fileobj=git.stdout, mode="r|") as tar:
        tar.extractall(dest, filter="data")
    if git.wait() != 0:
        raise RuntimeError("git archive failed")
    return dest


def _make_project(base: Path) -> Path:
    sys.path.insert(0, str(REPO))
    try:
        from essay.create import create
    finally:
        sys.path.remove(str(REPO))
    return Path(create("benchdemo", output_dir=str(base), no_input=True))


def run(rounds: int = 3, warmup: bool = True) -> dict:
    """Measure; returns medians (seconds), every sample, and the ratio. Never raises:
    a failure is reported as ``{"error": ...}`` with what was measured until then."""
    result: dict = {"benchmark": "es build --no-upload vs python -m build", "rounds": rounds,
                    "goal_ratio": GOAL, "samples": {}}
    uv = shutil.which("uv") is not None
    tools = ["es build", "python -m build"] + (["python -m build --installer uv"] if uv else [])
    samples: dict[str, list[float]] = {t: [] for t in tools}
    result["samples"] = samples
    base = Path(tempfile.mkdtemp(prefix="essay-bench-build-"))
    try:
        project = _make_project(base)
        env = _env()
        run_id = uuid.uuid4().int % 10**6

        def one(tool: str, i: int) -> float:
            if tool == "es build":
                version = f"0.0.{run_id}.dev{i}"      # unique: never clashes with a build
                return _timed([sys.executable, "-m", "essay", "build", "--no-upload",
                               "--version", version], project, env)
            tree = _archive(project, base / f"tree-{i}-{len(tool)}")
            out = base / f"out-{i}-{len(tool)}"
            argv = [sys.executable, "-m", "build", "--outdir", str(out), str(tree)]
            if tool.endswith("--installer uv"):
                argv[3:3] = ["--installer", "uv"]
            return _timed(argv, base, env)

        if warmup:
            for tool in tools:
                one(tool, 0)
        for i in range(1, rounds + 1):
            order = tools if i % 2 else list(reversed(tools))   # alternate who goes first
            for tool in order:
                samples[tool].append(round(one(tool, i), 3))
    except Exception as e:  # noqa: BLE001 -- a benchmark reports, it does not fail
        result["error"] = f"{type(e).__name__}: {e}"
    finally:
        shutil.rmtree(base, ignore_errors=True)

    medians = {t: round(statistics.median(s), 3) for t, s in samples.items() if s}
    result["median_s"] = medians
    if "es build" in medians and "python -m build" in medians:
        result["ratio"] = round(medians["es build"] / medians["python -m build"], 3)
        result["ok"] = result["ratio"] <= GOAL
    if "es build" in medians and "python -m build --installer uv" in medians:
        result["ratio_vs_uv"] = round(
            medians["es build"] / medians["python -m build --installer uv"], 3)
    return result


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = run(rounds=max(1, args.rounds))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['benchmark']}: {result['rounds']} rounds, medians in seconds")
    for tool, samples in result["samples"].items():
        med = result["median_s"].get(tool)
        print(f"  {tool:34} median {med if med is not None else '-':>7}   samples {samples}")
    if "ratio" in result:
        verdict = "meets" if result["ok"] else "misses"
        print(f"  ratio es build / python -m build = {result['ratio']} "
              f"({verdict} the goal <= {GOAL})")
    if "ratio_vs_uv" in result:
        print(f"  ratio es build / python -m build --installer uv = {result['ratio_vs_uv']}")
    if "error" in result:
        print(f"  error: {result['error']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
