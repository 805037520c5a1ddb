"""`es build`, `es versions` and `es pypi serve|sync` against real parts: a project made by
`es create`, its index served by the real `es pypi serve` (pypiserver) on 127.0.0.1, real
twine uploads, real pip installs into a fresh virtualenv. No SSH rig is needed.

The tests share one project and one index (module scope) and run in file order: the first
builds make .1 and .2 of today, later ones rely on them. Every output of every command is
collected so the last test can check that the upload password appeared in none of them.
"""
import contextlib
import datetime as dt
import json
import os
import socket
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from essay.build import backend_error

pytestmark = pytest.mark.slow

GIT_ID = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
          "GIT_COMMITTER_EMAIL": "t@t"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def today_prefix() -> str:
    d = dt.date.today()
    return f"{d.year}.{d.month}.{d.day}"


class Demo:
    """The project, its index server(s), and a record of everything they printed."""

    def __init__(self, base: Path):
        from essay.create import create

        self.base = base
        self.home = base / "home"
        self.home.mkdir()
        self.path = create("demo", output_dir=str(base), no_input=True)
        self.port = free_port()
        self.index_url = f"http://127.0.0.1:{self.port}/simple/"
        self.outputs: list[str] = []
        self.servers: list[tuple[subprocess.Popen, Path]] = []
        self.built: dict[str, str] = {}          # version -> commit sha it was built from
        text = (self.path / "essay.toml").read_text()
        self.config_text = text + f'\n[index]\nurl = "{self.index_url}"\n'
        (self.path / "essay.toml").write_text(self.config_text)
        self.git("commit", "-qam", "essay.toml: the test index")

    # --- running things ---------------------------------------------------------------
    def env(self, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWINE_")}
        env.update(HOME=str(self.home), NO_COLOR="1", **extra)
        return env

    def es(self, *args, env=None, timeout=180) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "essay", *map(str, args)], cwd=self.path,
                              env=env or self.env(), capture_output=True, text=True,
                              timeout=timeout)
        self.outputs += [proc.stdout, proc.stderr]
        return proc

    def build(self, *args, env=None) -> str:
        proc = self.es("build", *args, env=env)
        assert proc.returncode == 0, proc.stderr
        version = proc.stdout.splitlines()[-1]
        assert proc.stdout == version + "\n", proc.stdout    # the version and nothing else
        assert "Traceback" not in proc.stderr
        self.built[version] = self.head()
        return version

    def fails(self, *args, code=1, env=None) -> str:
        """Run `es ARGS`, expect exit ``code`` and a one-line error; return stderr."""
        proc = self.es(*args, env=env)
        assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr and 'File "' not in proc.stderr, proc.stderr
        assert "es: failed: " in proc.stderr
        assert proc.stdout == ""
        return proc.stderr

    def git(self, *args, env=None) -> str:
        return subprocess.run(["git", *args], cwd=self.path, check=True, capture_output=True,
                              text=True, env={**os.environ, **GIT_ID, **(env or {})}).stdout

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()

    def serve(self, port: int, *extra) -> subprocess.Popen:
        log = self.base / f"serve-{port}.log"
        with open(log, "w") as f:
            proc = subprocess.Popen([sys.executable, "-m", "essay", "pypi", "serve", "--port",
                                     str(port), *extra], cwd=self.path, env=self.env(),
                                    stdout=f, stderr=subprocess.STDOUT)
        self.servers.append((proc, log))
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise RuntimeError(f"es pypi serve exited {proc.returncode}:\n{log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return proc
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"es pypi serve is not listening on {port}:\n{log.read_text()}")

    def stop(self):
        for proc, _ in self.servers:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    # --- looking at things ------------------------------------------------------------
    @property
    def credentials(self) -> dict:
        return json.loads((self.path / ".essay" / "credentials.json").read_text())

    def snapshot(self) -> dict:
        """Everything a build must not change in the checkout."""
        return {"status": self.git("status", "--porcelain", "--untracked-files=all"),
                "head": self.head(), "refs": self.git("for-each-ref"),
                "stash": self.git("stash", "list"), "diff": self.git("diff", "HEAD"),
                "release": (self.path / "demo" / "_release.py").read_text()}

    def packages(self) -> set[str]:
        return set(os.listdir(self.path / ".essay" / "packages"))

    def dists(self) -> set[str]:
        d = self.path / ".essay" / "dist"
        return set(os.listdir(d)) if d.exists() else set()

    def versions(self) -> list[str]:
        proc = self.es("versions")
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split()

    @contextlib.contextmanager
    def config_as(self, url: str, upload_url: str | None = None):
        """essay.toml with another [index] for a while (uncommitted; restored after)."""
        text = self.config_text.replace(f'url = "{self.index_url}"', f'url = "{url}"')
        if upload_url:
            text += f'upload_url = "{upload_url}"\n'
        (self.path / "essay.toml").write_text(text)
        try:
            yield
        finally:
            (self.path / "essay.toml").write_text(self.config_text)

    def nothing_half_done(self, before_dists, before_packages, version=None):
        assert self.dists() == before_dists
        assert self.packages() == before_packages
        if version:
            assert version not in self.versions()

    def commit_with(self, path: str, text: str, branch: str) -> str:
        """A commit on ``branch`` (HEAD + ``path`` = ``text``), made with git plumbing:
        the working tree, the index and HEAD are not touched."""
        blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=self.path,
                              input=text, capture_output=True, text=True,
                              check=True).stdout.strip()
        idx = {"GIT_INDEX_FILE": str(self.base / f"index-{branch}")}
        self.git("read-tree", "HEAD", env=idx)
        self.git("update-index", "--cacheinfo", f"100644,{blob},{path}", env=idx)
        tree = self.git("write-tree", env=idx).strip()
        sha = self.git("commit-tree", tree, "-p", "HEAD", "-m", f"broken {path}").strip()
        self.git("update-ref", f"refs/heads/{branch}", sha)
        return sha


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = Demo(tmp_path_factory.mktemp("build"))
    try:
        d.serve(d.port)
        yield d
    finally:
        d.stop()


# --- the index --------------------------------------------------------------------------

def test_serve_keeps_the_upload_password_private(demo):
    state = demo.path / ".essay"
    for name in ("credentials.json", "htpasswd"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
    creds = demo.credentials
    assert creds["username"] == "essay" and len(creds["password"]) >= 20
    assert creds["password"] not in (state / "htpasswd").read_text()   # hashed there
    assert (state / "htpasswd").read_text().startswith("essay:")
    proc, log = demo.servers[0]
    ps = subprocess.run(["ps", "-ww", "-o", "args=", "-p", str(proc.pid)], capture_output=True,
                        text=True, check=True).stdout
    assert "pypi serve" in ps and creds["password"] not in ps
    assert creds["password"].encode() not in Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    assert demo.git("status", "--porcelain") == ""      # .essay/ is ignored by git
    assert "serving" in log.read_text() and creds["password"] not in log.read_text()


# --- building -----------------------------------------------------------------------------

def test_build_twice_makes_1_then_2_and_leaves_the_checkout_alone(demo):
    before = demo.snapshot()
    v1 = demo.build()
    v2 = demo.build()
    assert (v1, v2) == (f"{today_prefix()}.1", f"{today_prefix()}.2")
    assert demo.snapshot() == before
    assert "0.0.0+unreleased" in before["release"]           # the placeholder stays
    assert {f"demo-{v1}.tar.gz", f"demo-{v1}-py3-none-any.whl",
            f"demo-{v2}.tar.gz", f"demo-{v2}-py3-none-any.whl"} <= demo.packages()
    assert {v1, v2} <= demo.dists()                         # copies kept in .essay/dist/
    # the server logged the requests
    assert "/simple/demo/" in demo.servers[0][1].read_text()


def test_versions_latest_and_next(demo):
    t = today_prefix()
    assert demo.versions() == [f"{t}.1", f"{t}.2"]
    assert demo.es("versions", "--latest").stdout == f"{t}.2\n"
    assert demo.es("versions", "--next").stdout == f"{t}.3\n"


def test_a_label_makes_a_local_version_that_sorts_after_its_base(demo):
    t = today_prefix()
    v = demo.build("--label", "FixBug")
    assert v == f"{t}.3+fixbug"
    assert demo.versions() == [f"{t}.1", f"{t}.2", f"{t}.3+fixbug"]
    assert demo.es("versions", "--latest").stdout == f"{t}.3+fixbug\n"
    assert demo.es("versions", "--next").stdout == f"{t}.4\n"


def test_sync_then_pip_installs_the_build_from_the_index(demo, tmp_path):
    proc = demo.es("pypi", "sync")
    assert proc.returncode == 0, proc.stderr
    packages = demo.packages()
    assert any(f.startswith("gunicorn-") for f in packages), packages
    assert any(f.startswith("supervisor-") for f in packages), packages
    version = next((v for v in demo.built if "+" in v), None) or demo.build("--label", "pip")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # pip sees this index only: no config files, no find-links, no extra indexes
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, HOME=str(demo.home), PIP_NO_CACHE_DIR="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                          "--index-url", demo.index_url, f"demo=={version}", "supervisor"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    report = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import json, importlib.metadata as m, demo._release as r, gunicorn, supervisor;"
         "print(json.dumps([r.version, r.commit, r.released, m.version('demo')]))"],
        capture_output=True, text=True, check=True).stdout
    got_version, commit, released, dist_version = json.loads(report)
    assert got_version == dist_version == version
    assert commit == demo.built[version] and len(commit) == 40
    assert dt.datetime.fromisoformat(released).tzinfo is not None


def test_no_upload_builds_a_ref_without_the_uncommitted_changes(demo):
    first = demo.git("rev-list", "--max-parents=0", "HEAD").strip()
    assert first != demo.head()
    app = demo.path / "demo" / "app.py"
    original = app.read_text()
    app.write_text(original + "\nUNCOMMITTED_MARK = 1\n")
    try:
        before, published = demo.snapshot(), demo.packages()
        proc = demo.es("build", "--ref", first[:10], "--no-upload", "--version", "1.0.0")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "1.0.0\n"
        assert "uncommitted changes" in proc.stderr and "not part of the build" in proc.stderr
        out = demo.path / ".essay" / "dist" / "1.0.0"
        assert str(out) in proc.stderr                      # it names where the files are
        assert sorted(os.listdir(out)) == ["demo-1.0.0-py3-none-any.whl", "demo-1.0.0.tar.gz"]
        with zipfile.ZipFile(out / "demo-1.0.0-py3-none-any.whl") as whl:
            release = whl.read("demo/_release.py").decode()
            assert "UNCOMMITTED_MARK" not in whl.read("demo/app.py").decode()
        assert "version = '1.0.0'" in release and f"commit = '{first}'" in release
        assert demo.snapshot() == before                    # still modified, nothing else
        assert demo.packages() == published and "1.0.0" not in demo.versions()
    finally:
        app.write_text(original)


# --- faults: a clear message, a non-zero exit, nothing half-done --------------------------

def test_index_down_names_the_url(demo):
    dead = free_port()
    dists, packages = demo.dists(), demo.packages()
    with demo.config_as(f"http://127.0.0.1:{dead}/simple/"):
        for args in (["build"], ["versions"], ["versions", "--next"]):
            err = demo.fails(*args)
            assert f"http://127.0.0.1:{dead}/simple/" in err and "unreachable" in err
    demo.nothing_half_done(dists, packages)


def test_upload_url_down_names_the_url(demo):
    dead = free_port()
    dists, packages = demo.dists(), demo.packages()
    with demo.config_as(demo.index_url, f"http://127.0.0.1:{dead}/"):
        err = demo.fails("build", "--version", "2.0.1")
    assert f"upload to http://127.0.0.1:{dead}/ failed" in err and "unreachable" in err
    demo.nothing_half_done(dists, packages, "2.0.1")


@pytest.mark.parametrize("user, password", [("essay", "wrong"), ("nobody", "nothing")])
def test_wrong_credentials_are_refused(demo, user, password):
    dists, packages = demo.dists(), demo.packages()
    err = demo.fails("build", "--version", "2.0.2",
                     env=demo.env(TWINE_USERNAME=user, TWINE_PASSWORD=password))
    assert "refused the credentials" in err and ("(401)" in err or "(403)" in err), err
    assert "TWINE_PASSWORD" in err and password not in err.replace("TWINE_PASSWORD", "")
    demo.nothing_half_done(dists, packages, "2.0.2")


def test_an_existing_version_is_refused_before_building(demo):
    t = today_prefix()
    for version in (f"{t}.1", f"{t}.01", f"{t}.1.0", f"{t}.3+FixBug"):
        err = demo.fails("build", "--version", version)
        assert "already on the index" in err and "building sdist" not in err


def test_the_servers_own_409_when_the_listing_misses_the_file(demo):
    """Listing from one index, uploading to another that has the file already: the
    pre-check passes, the upload server refuses (pypiserver: 409, or 400 for twine)."""
    t = today_prefix()
    if f"{t}.1" not in demo.versions():   # on its own, not after the tests that build it
        demo.build("--version", f"{t}.1")
    mirror = free_port()
    empty = demo.base / "empty-root"
    empty.mkdir()
    demo.serve(mirror, "--root", str(empty))
    before = {f: (demo.path / ".essay" / "packages" / f).stat().st_mtime_ns
              for f in demo.packages()}
    dists = demo.dists()
    with demo.config_as(f"http://127.0.0.1:{mirror}/simple/", demo.index_url.replace(
            "simple/", "")):
        err = demo.fails("build", "--version", f"{t}.1")
    assert "building sdist" in err                          # it got as far as uploading
    assert "already on the index" in err and ("(409" in err or "(400" in err), err
    after = {f: (demo.path / ".essay" / "packages" / f).stat().st_mtime_ns
             for f in demo.packages()}
    assert after == before and demo.dists() == dists and os.listdir(empty) == []


def test_a_ref_that_does_not_exist(demo):
    dists = demo.dists()
    err = demo.fails("build", "--ref", "no-such-branch", code=2)
    assert "git ref 'no-such-branch' does not exist" in err
    err = demo.fails("build", "--ref=--output=/tmp/x", code=2)  # never an option to git
    assert "is not a git ref" in err
    assert demo.dists() == dists


@pytest.mark.parametrize("args, says", [
    (["--version", "1.0-foo-bar"], "not a PEP 440 version"),
    (["--version", "latest"], "not a PEP 440 version"),
    (["--version", ""], "not a PEP 440 version"),
    (["--version", "2026.11.24.1-fixbug"], "not a PEP 440 version"),
    (["--label", "fix bug"], "label 'fix bug' is not valid"),
    (["--label", ""], "label '' is not valid"),
    (["--label", "a+b"], "label 'a+b' is not valid"),
    (["--version", "1.0+x", "--label", "y"], "already has a label"),
    (["--no-upload", "--version", "1.0-foo-bar"], "not a PEP 440 version"),
])
def test_an_invalid_version_or_label_is_refused_before_building(demo, args, says):
    dists = demo.dists()
    err = demo.fails("build", *args, code=2)
    assert says in err and "building" not in err
    assert demo.dists() == dists


@pytest.mark.parametrize("broken, says", [
    ("invalid toml", "Expected '=' after a key"),
    ("invalid metadata", "`project.dependencies` must be array"),
])
def test_a_project_that_cannot_build_shows_the_build_tools_error(demo, broken, says):
    text = (demo.path / "pyproject.toml").read_text()
    if broken == "invalid toml":
        text += "\nthis is [not toml\n"
    else:
        text = text.replace("dependencies = [", 'dependencies = "gunicorn"\nnot_deps = [')
    branch = broken.replace(" ", "-")
    sha = demo.commit_with("pyproject.toml", text, branch)
    before, dists, packages = demo.snapshot(), demo.dists(), demo.packages()
    err = demo.fails("build", "--ref", branch, "--version", "3.0.0")
    assert says in err and "pyproject.toml" in err, err
    assert sha[:12] in err                                  # it said what it was building
    assert demo.snapshot() == before
    demo.nothing_half_done(dists, packages, "3.0.0")


def test_pypirc_credentials_apply_to_the_upload_url(demo):
    """Twine ignores ~/.pypirc when given a URL; es build passes it the matching section."""
    creds_file = demo.path / ".essay" / "credentials.json"
    saved = creds_file.read_text()
    pypirc = demo.home / ".pypirc"
    upload_url = demo.index_url.replace("simple/", "")

    def write_pypirc(password):
        pypirc.write_text("[distutils]\nindex-servers =\n    pypi\n    team\n\n"
                          f"[team]\nrepository = {upload_url.rstrip('/')}\n"
                          f"username = essay\npassword = {password}\n")

    try:
        password = demo.credentials["password"]
        creds_file.unlink()
        # no credentials anywhere: twine's own sources find none, and it says so
        dists, packages = demo.dists(), demo.packages()
        err = demo.fails("build", "--version", "2.0.4")
        assert "Credential not found" in err and "TWINE_PASSWORD" in err
        demo.nothing_half_done(dists, packages, "2.0.4")
        # the saved credentials are gone: only ~/.pypirc knows the password
        write_pypirc(password)
        v = demo.build()
        assert v in demo.versions()
        # ~/.pypirc's entry for this URL comes before the saved credentials
        creds_file.write_text(saved)
        os.chmod(creds_file, 0o600)
        write_pypirc("not-the-password")
        err = demo.fails("build", "--version", "2.0.3")
        assert "refused the credentials" in err
    finally:
        pypirc.unlink(missing_ok=True)
        if not creds_file.exists():
            creds_file.write_text(saved)
            os.chmod(creds_file, 0o600)


def test_the_password_appears_in_no_output(demo):
    password = demo.credentials["password"]
    proc = demo.es("config")
    assert proc.returncode == 0 and "[index]" in proc.stdout
    for proc_, log in demo.servers:
        demo.outputs.append(log.read_text())
    assert len(demo.outputs) > 40
    leaks = [o for o in demo.outputs if password in o]
    assert not leaks, leaks[0][:500]


# --- pure helpers -------------------------------------------------------------------------

def test_backend_error_keeps_the_message_and_drops_the_stack():
    output = "\n".join([
        "running egg_info", "configuration error: `project.name` must be pep508-identifier",
        "Traceback (most recent call last):",
        '  File "/x/setuptools/build_meta.py", line 338, in get_requires_for_build_sdist',
        "    return self._get_build_requires(config_settings, requirements=[])",
        "           ^^^^^^^^^^^^^^^^^^^^^^^^^", "",
        "ValueError: invalid pyproject.toml config: `project.name`."])
    assert backend_error(output) == (
        "running egg_info\nconfiguration error: `project.name` must be pep508-identifier\n"
        "ValueError: invalid pyproject.toml config: `project.name`.")
    assert backend_error("x\n" * 100, lines=3) == "x\nx\nx"
    assert backend_error("") == ""
