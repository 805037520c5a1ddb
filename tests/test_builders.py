"""Property tests for the command builders: any text a user or a host can put into a
command comes out of bash exactly as it went in, and never runs as a command.

Every test runs the real shell: ``bash`` on this machine (the builders' output is the
same text the executor sends over SSH; ``local`` hosts run it exactly like this). An
injection attempt is judged by its effect: a canary file that must never appear.
No rig needed: the lb scripts run against a state directory in a temporary dir.
"""
import base64
import os
import shutil
import subprocess
import tempfile
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from essay import config, health
from essay.context import Context
from essay.errors import EssayError
from essay.lb import LbSession, LockedError
from essay.output import Reporter
from essay.remote.executor import Executor
from essay.remote.script import MARK, Script, Step, parse
from essay.remote.shell import HOME_TOKEN, PRELUDE, cmd, q, qpath, render_to, write_file
from essay.state import Operation

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FAST = settings(max_examples=200, deadline=None)

#: Text bash can carry in an argument: anything but NUL (and lone surrogates, which are
#: not text that can be encoded).
TEXT = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
#: One line of it (messages, hosts, versions as a user might type them).
LINE = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\n\r")


def injections(canary: str):
    """Shell text that creates ``canary`` if it is ever run as code."""
    t = f"touch {canary}"
    return [f"$({t})", f"`{t}`", f"; {t}", f"&& {t}", f"| {t}", f"\n{t}\n", f"' ; {t}; '",
            f'" ; {t}; "', f"'\"$({t})\"'", f"$'\\x27'; {t}", f"\\'; {t} #", f"${{x:-$({t})}}",
            f"<({t})", f"$(({t}))", f"' $({t}) '", f"'\\'' ; {t} ; '\\''", "~", "*", "$HOME",
            "!!", "%s%n", "\\", "'", '"', "\r", "\t", "@ESSAY_HOME@", MARK + " end 1 0"]


CANARY_NAME = "canary-never-created"


def hostile(alphabet=TEXT):
    """Arbitrary text, salted with injection attempts against a canary in the cwd."""
    piece = st.one_of(st.text(alphabet, max_size=12), st.sampled_from(injections(CANARY_NAME)))
    return st.lists(piece, max_size=6).map("".join)


def hostile_line():
    return hostile(LINE).map(lambda s: s.replace("\n", " ").replace("\r", " "))


@pytest.fixture(scope="module")
def sandbox():
    """A working directory for bash: the canary would appear here (or in $HOME)."""
    d = Path(tempfile.mkdtemp(prefix="essay-builders-"))
    (d / "home").mkdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def bash(sandbox, text: str, input=None) -> bytes:
    """Run ``text`` in bash (cwd and HOME in the sandbox); stdout as bytes."""
    env = {"PATH": os.environ["PATH"], "HOME": str(sandbox / "home"), "LANG": "C.UTF-8"}
    p = subprocess.run(["bash", "-c", text], cwd=sandbox, env=env, capture_output=True,
                       input=input, timeout=30)
    assert p.returncode == 0, (text, p.stderr)
    return p.stdout


def no_canary(sandbox):
    for d in (sandbox, sandbox / "home"):
        assert not (d / CANARY_NAME).exists(), "an injected command ran"


# --- quoting helpers: essay/remote/shell.py ---------------------------------------------

@FAST
@given(value=hostile())
@example(value="")
@example(value="it's $(touch canary-never-created) `id` ; \" \\ * \n end")
def test_q_is_one_word_meaning_exactly_the_value(sandbox, value):
    # as an argument, in an assignment, and exported to a child process
    out = bash(sandbox, f"printf '%s\\0' {q(value)}; x={q(value)}; printf '%s\\0' \"$x\"; "
                        f"export X={q(value)}; bash -c 'printf %s \"$X\"'")
    assert out.split(b"\0") == [value.encode()] * 3
    no_canary(sandbox)


@FAST
@given(argv=st.lists(hostile(), min_size=1, max_size=5))
def test_cmd_quotes_every_argument(sandbox, argv):
    out = bash(sandbox, f"printf '%s\\0' {cmd(*argv)}")
    assert out.split(b"\0")[:-1] == [a.encode() for a in argv]
    no_canary(sandbox)


@FAST
@given(rest=hostile())
@example(rest="")
@example(rest="$(touch canary-never-created)/x y")
def test_qpath_expands_only_a_leading_tilde(sandbox, rest):
    home = str(sandbox / "home")
    out = bash(sandbox, f"printf '%s\\0' {qpath('~/' + rest)} {qpath('~')}")
    assert out.decode().split("\0")[:-1] == [home + ("/" + rest if rest else ""), home]
    if rest != "~" and not rest.startswith("~/"):     # anything else: the path as is
        assert bash(sandbox, f"printf %s {qpath(rest)}") == rest.encode()
        assert bash(sandbox, f"printf %s {qpath('x/~/' + rest)}") == f"x/~/{rest}".encode()
    no_canary(sandbox)


FILE_NAME = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/"),
                    min_size=1, max_size=40).filter(lambda n: n not in (".", ".."))


@SETTINGS
@given(name=FILE_NAME, sub=FILE_NAME, content=hostile(), mode=st.sampled_from([None, "600"]))
@example(name="a b", sub="$(touch canary-never-created)", content="", mode=None)
@example(name="x", sub="y", content="no newline at the end, two at the start\n\n" * 2 +
         "x\n\n\n", mode=None)
def test_write_file_writes_exactly_the_content(sandbox, name, sub, content, mode):
    """Content (HOME_TOKEN -> $HOME, every byte and trailing newline kept) into any path,
    made with its parent directories; ``render_to`` writes the same bytes."""
    assume(len(name.encode()) < 200 and len(sub.encode()) < 200)
    work = Path(tempfile.mkdtemp(dir=sandbox))
    target = work / sub / name
    content = content + f"\n{HOME_TOKEN}/x"
    bash(sandbox, f"{PRELUDE}\n{write_file(str(target), content, mode)}")
    want = content.replace(HOME_TOKEN, str(sandbox / "home")).encode()
    assert target.read_bytes() == want
    assert [p.name for p in target.parent.iterdir()] == [name]     # no temp file left
    if mode:
        assert oct(target.stat().st_mode & 0o777) == "0o600"
    other = work / "rendered"
    bash(sandbox, f"{PRELUDE}\n{render_to(str(other), content)}")
    assert other.read_bytes() == want
    shutil.rmtree(work)
    no_canary(sandbox)


def test_write_file_under_home_goes_to_the_remote_home(sandbox):
    bash(sandbox, f"{PRELUDE}\n{write_file('~/d/e f/conf', 'home is ' + HOME_TOKEN)}")
    assert (sandbox / "home/d/e f/conf").read_text() == f"home is {sandbox / 'home'}"


# --- scripts: essay/remote/script.py render -> bash -> parse -----------------------------

@SETTINGS
@given(title=hostile(), names=st.lists(hostile(), min_size=1, max_size=3), env=hostile(),
       outputs=st.lists(hostile().filter(lambda s: MARK not in s), min_size=3, max_size=3),
       values=st.lists(hostile(), min_size=3, max_size=3))
def test_script_round_trip_through_bash(sandbox, title, names, env, outputs, values):
    """Whatever the titles, step names, env values, step output and reported values, the
    executor's parse of the real run gives back each step, its output and its values."""
    steps = tuple(Step(n, f"essay_data v {q(v)}; essay_data env \"$ESSAY_X\"; printf %s {q(o)}")
                  for n, o, v in zip(names, outputs, values))
    script = Script(title, steps, env=(("ESSAY_X", env),), progress=False)
    out = bash(sandbox, "bash -s", input=script.render().encode()).decode()
    r = parse(script, out, "local")
    assert [s.name for s in r.steps] == list(names)
    assert [s.rc for s in r.steps] == [0] * len(names)
    for step, o in zip(r.steps, outputs):
        # a step's output ends where its end marker begins; trailing newlines are not kept
        assert step.output == o.rstrip("\n")
    # a reported value is one line: a newline in it (which could forge a marker) is a space
    assert r.data["v"] == [v.replace("\n", " ") for v in values[:len(names)]]
    assert r.data["env"] == [env.replace("\n", " ")] * len(names)
    no_canary(sandbox)


def test_step_output_cannot_end_another_step():
    """An end marker only ends the step it names (output that forges one for an earlier
    step does not cut the current step short)."""
    script = Script("t", (Step("one", ":"), Step("two", ":")))
    text = (f"{MARK} step 1\n{MARK} end 1 0\n{MARK} step 2\nout\n{MARK} end 1 0\nmore\n"
            f"{MARK} end 2 3\n")
    r = parse(script, text, "h")
    assert [(s.name, s.rc) for s in r.steps] == [("one", 0), ("two", 3)]
    assert r.steps[1].output == f"out\n{MARK} end 1 0\nmore"


STEP = st.tuples(st.text(LINE, max_size=10), hostile().filter(lambda s: MARK not in s),
                 st.integers(0, 255),
                 st.lists(st.tuples(st.from_regex(r"\A[a-z_]{1,8}\Z"),
                                    hostile_line().filter(lambda s: MARK not in s)),
                          max_size=3))


@FAST
@given(steps=st.lists(STEP, min_size=1, max_size=4))
def test_parse_reads_back_what_the_markers_say(steps):
    """parse() of the exact text a script prints: steps, exit statuses, outputs, data."""
    script = Script("t", tuple(Step(n, ":") for n, *_ in steps))
    text = ""
    for i, (_, output, rc, data) in enumerate(steps, 1):
        text += f"{MARK} step {i}\n" + "".join(f"{MARK} data {k} {v}\n" for k, v in data)
        text += output + f"\n{MARK} end {i} {rc}\n"
    r = parse(script, text, "h")
    assert [(s.name, s.rc, s.output) for s in r.steps] == \
        [(n, rc, o.rstrip("\n")) for n, o, rc, _ in steps]
    want = {}
    for *_, data in steps:
        for k, v in data:
            want.setdefault(k, []).append(v)
    assert r.data == want


def test_parse_of_an_interrupted_script():
    script = Script("t", (Step("one", ":"), Step("two", ":")))
    r = parse(script, f"{MARK} step 1\nok\n{MARK} end 1 0\n{MARK} step 2\nhalf", "h")
    assert [(s.name, s.rc, s.output) for s in r.steps] == [("one", 0, "ok"), ("two", None, "half")]
    assert r.failed_step.name == "two"


# --- lb scripts: state, history, lock (essay/state.py, essay/lb.py, essay/lock.py) ---------

def local_ctx(state_dir: Path) -> Context:
    cfg = config.from_dict({
        "project": {"name": "demo"},
        "roles": {"web": ["local"], "lb": ["local"]},
        "nginx": {"site": str(state_dir.parent / "demo.conf"), "state_dir": str(state_dir)},
    }, None, root=state_dir.parent)
    return Context(reporter=Reporter(quiet=True), _cfg=cfg)


def history_rows(state_dir: Path) -> list[list[str]]:
    text = (state_dir / "history").read_text()
    return [line.split("\t") for line in text.split("\n") if line]


def one_line(s: str) -> str:
    return s.replace("\t", " ").replace("\n", " ").replace("\r", " ")


@SETTINGS
@given(message=hostile_line(), detail=hostile(), version=hostile_line(),
       user=hostile_line())
@example(message="deploy $(touch canary-never-created) `id`; 'quote\" \\", detail="\t\n",
         version="1.0;rm -rf ~", user="x\ty")
def test_lb_session_records_values_exactly(sandbox, message, detail, version, user):
    """LbSession: lock (holder and message as given), state and history lines hold the
    values exactly (tabs and newlines, which separate fields and lines, become spaces)."""
    state = Path(tempfile.mkdtemp(dir=sandbox)) / "demo.essay"
    ctx = local_ctx(state)
    with Executor(Reporter(quiet=True)) as ex:
        s = LbSession(ctx, ex, "deploy", message)
        s.op.user = user
        s.begin()
        info = (state / "lock" / "info").read_text().rstrip("\n").split("\t")
        assert info[1:2] + info[3:] == [one_line(user), "deploy", one_line(message)]
        # someone else now: refused, the holder named with their message
        other = LbSession(ctx, ex, "flip", "")
        with pytest.raises(LockedError) as e:
            other.begin()
        assert f"{one_line(user)} since " in str(e.value)
        assert f": deploy ({one_line(message)})" in str(e.value) or not message
        s.end("deploy", "", "b", "ok", detail, versions={"b": version})
    assert not (state / "lock").exists()
    kv = dict(line.split("=", 1) for line in (state / "state").read_text().split("\n") if line)
    assert kv["version_b"] == version
    row = history_rows(state)[-1]
    assert row[1:] == [one_line(user), "deploy", "-", "b", "ok", one_line(detail),
                       one_line(message), "-"]   # no environment
    shutil.rmtree(state.parent)
    no_canary(sandbox)


def printable(s: str) -> str:
    return "".join(c for c in s if unicodedata.category(c) != "Cc")[:200]


@SETTINGS
@given(message=hostile().map(printable))
def test_lock_break_records_its_message(sandbox, message):
    """Any message ``es lock break --message`` accepts is recorded exactly."""
    from essay import lock

    state = Path(tempfile.mkdtemp(dir=sandbox)) / "demo.essay"
    ctx = local_ctx(state)
    (state / "lock").mkdir(parents=True)
    (state / "lock" / "info").write_text("tok\tsomeone@elsewhere\t2026-01-01T00:00:00Z\t"
                                         "deploy\tits message\n")
    assert lock.cli_break(ctx, message or None) == 0
    assert not (state / "lock").exists()
    row = history_rows(state)[-1]
    assert row[2:] == ["lock break", "-", "-", "broken", "held by someone@elsewhere deploy",
                       message, "-"]
    shutil.rmtree(state.parent)
    no_canary(sandbox)


@FAST
@given(message=hostile(), bad=st.characters(whitelist_categories=("Cc", "Zl", "Zp")))
def test_messages_with_control_characters_are_refused_before_anything_runs(sandbox, message,
                                                                          bad):
    """Newlines, tabs, escape sequences, U+2028 ...: refused by every command taking --message,
    before any script is built (the lb state directory is never made)."""
    from essay import lock
    from essay.validate import check_message

    message = message[:100] + bad + message[100:]
    with pytest.raises(EssayError, match="without control characters"):
        check_message(message)
    ctx = local_ctx(sandbox / "unused.essay")
    with pytest.raises(EssayError):
        lock.cli_break(ctx, message)
    assert not (sandbox / "unused.essay").exists()


@SETTINGS
@given(snapshot=hostile_line().filter(lambda s: s and "/" not in s and s not in (".", "..")),
       live=hostile_line().filter(lambda s: "\t" not in s),
       previous=hostile_line().filter(lambda s: "\t" not in s))
def test_revert_script_puts_back_exactly_what_it_is_given(sandbox, snapshot, live, previous):
    """The values a flip read from an lb (and hands back to put it back) stay data."""
    from essay.flip.commands import revert_script

    assume(len(snapshot.encode()) < 200)
    state = Path(tempfile.mkdtemp(dir=sandbox)) / "demo.essay"
    ctx = local_ctx(state)
    script = revert_script(ctx.cfg, Operation("flip"), "flip", snapshot, previous, live)
    with Executor(Reporter(quiet=True)) as ex:
        r = ex.run({"local": script})["local"]
    assert r.ok, r.error
    assert os.readlink(state / "live") == f"colors/{snapshot}"
    kv = dict(line.split("=", 1) for line in (state / "state").read_text().split("\n") if line)
    assert (kv["live"], kv["previous"]) == (live, previous)
    assert history_rows(state)[-1][2:6] == ["flip", "-", live or "-", "reverted"]
    shutil.rmtree(state.parent)
    no_canary(sandbox)


@settings(max_examples=25, deadline=None)
@given(urls=st.lists(hostile(), min_size=1, max_size=3))
def test_health_check_urls_are_data(sandbox, urls):
    """Health checks take URLs from config and hosts: never code, whatever they hold."""
    text = f"{health.check('python3', urls, 0)} || true; " \
           f"{health.watch('python3', urls, 0)} || true"
    bash(sandbox, text)
    no_canary(sandbox)


@settings(max_examples=30, deadline=None)
@given(version=hostile_line(), host=hostile_line(), profile=hostile_line(),
       prefix=hostile_line().filter(lambda s: s and "\x00" not in s))
def test_deploy_environment_for_hooks_is_exact(sandbox, version, host, profile, prefix):
    """What a deploy exports to hooks (version, host, profile), in a prefix of any name."""
    from essay.deploy.commands import Target, supervisorctl, venv_env

    assume(len(prefix.encode()) < 150 and not prefix.startswith("~"))
    root = Path(tempfile.mkdtemp(dir=sandbox))
    cfg = config.from_dict({"project": {"name": "demo"}, "roles": {"web": ["local"]}}, None,
                           root=root)
    cfg = type(cfg)(**{**cfg.__dict__, "prefix": str(root / prefix.replace("/", "_"))})
    t = Target(host=host, color="a", version=version, profile=profile, user="u",
               supervisord_conf="")
    bin_dir = Path(cfg.color_dir("a")) / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "activate").write_text("")
    ctl = bin_dir / "supervisorctl"
    ctl.write_text("#!/bin/sh\nprintf '%s\\0' \"$@\"\n")
    ctl.chmod(0o755)
    out = bash(sandbox, f"{venv_env(cfg, t)} && printf '%s\\0' \"$ESSAY_VERSION\" "
                        f"\"$ESSAY_HOST\" \"$ESSAY_PROFILE\" \"$ESSAY_COLOR\"; "
                        f"{supervisorctl(cfg, 'a', 'start', version)}")
    assert out.decode().split("\0")[:-1] == [
        version, host, profile, "a", "-c", f"{cfg.color_dir('a')}/etc/supervisord.conf",
        "start", version]
    shutil.rmtree(root)
    no_canary(sandbox)


def test_base64_payloads_need_no_quoting():
    # what write_file relies on: base64 text is always one safe shell word
    for raw in (b"", b"\x00\xff'\"$`", os.urandom(300)):
        enc = base64.b64encode(raw).decode()
        assert q(enc) == enc or enc == ""


def test_ctrl_c_just_after_the_lock_was_taken_releases_it(sandbox):
    """Ctrl-C arriving while the lock round trip of a deploy or release is in flight (the
    lb took the lock, the answer never arrived): the lock is released, not left behind."""
    state = Path(tempfile.mkdtemp(dir=sandbox)) / "demo.essay"
    ctx = local_ctx(state)

    class Interrupted(Executor):
        calls = 0

        def run(self, scripts):
            results = super().run(scripts)
            Interrupted.calls += 1
            if Interrupted.calls == 1:          # the lock is taken on the lb by now
                assert (state / "lock").exists()
                raise KeyboardInterrupt
            return results

    with Interrupted(Reporter(quiet=True)) as ex:
        with pytest.raises(KeyboardInterrupt):
            LbSession(ctx, ex, "release").begin()
    assert Interrupted.calls == 2 and not (state / "lock").exists()
    shutil.rmtree(state.parent)
