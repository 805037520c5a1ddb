"""Which wheels the hosts can install (essay.wheels): tags and Requires-Python against
the hosts' Python, and pruning the index directory. Pure and fast (wheels made here)."""
import zipfile

import pytest

from essay import wheels


def wheel(d, name, requires_python=None):
    path = d / name
    dist = name.split("-")[0] + "-" + name.split("-")[1]
    meta = "Metadata-Version: 2.1\nName: x\nVersion: 1\n"
    if requires_python:
        meta += f"Requires-Python: {requires_python}\n"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{dist}.dist-info/METADATA", meta)
    return path


def test_versions_parse():
    assert wheels.parse_version("3.11") == (3, 11, 0)
    assert wheels.parse_version("3.11.2") == (3, 11, 2)
    for bad in ("3", "2.7", "3.11.2.1", "py3", ""):
        with pytest.raises(ValueError):
            wheels.parse_version(bad)


def test_requires_python_at_the_micro_level(tmp_path):
    # the case: the operator had 3.11.7, the hosts 3.11.2
    new = wheel(tmp_path, "soupsieve-9.0-py3-none-any.whl", ">=3.11.5")
    old = wheel(tmp_path, "soupsieve-2.5-py3-none-any.whl", ">=3.8")
    host = (3, 11, 2)
    tags = wheels.supported(host)
    assert wheels.why_not(new, host, tags) == "Requires-Python >=3.11.5"
    assert wheels.why_not(old, host, tags) is None
    assert wheels.why_not(new, (3, 11, 7), wheels.supported((3, 11, 7))) is None


def test_tags_for_another_python_or_platform(tmp_path):
    host = (3, 11, 2)
    tags = wheels.supported(host, ["manylinux_2_17_x86_64", "linux_x86_64"])
    assert wheels.why_not(wheel(tmp_path, "a-1-cp312-cp312-manylinux_2_17_x86_64.whl"),
                          host, tags).startswith("tags cp312-cp312")
    assert wheels.why_not(wheel(tmp_path, "a-1-cp311-cp311-manylinux_2_17_x86_64.whl"),
                          host, tags) is None
    assert wheels.why_not(wheel(tmp_path, "b-1-cp311-cp311-macosx_11_0_arm64.whl"),
                          host, tags) is not None
    assert wheels.why_not(wheel(tmp_path, "c-1-cp39-abi3-manylinux_2_17_x86_64.whl"),
                          host, tags) is None


def test_prune_moves_only_what_the_hosts_cannot_install(tmp_path):
    index = tmp_path / "packages"
    index.mkdir()
    wheel(index, "good-1-py3-none-any.whl", ">=3.8")
    wheel(index, "bad-1-py3-none-any.whl", ">=3.12")
    (index / "sdist-1.tar.gz").write_text("not judged")
    moved = wheels.prune(index, (3, 11, 2))
    assert moved == [("bad-1-py3-none-any.whl", "Requires-Python >=3.12")]
    assert sorted(p.name for p in index.iterdir()) == ["good-1-py3-none-any.whl",
                                                       "sdist-1.tar.gz"]
    assert (tmp_path / "packages-pruned" / "bad-1-py3-none-any.whl").exists()


def test_platform_tags_from_what_a_host_says():
    """glibc 2.36 on x86_64 (Debian 12): every manylinux down to manylinux1, with the
    legacy aliases where PEP 600 has them, then linux_x86_64."""
    got = wheels.platform_tags("linux-x86_64", "glibc", "2.36")
    assert got[:2] == ["manylinux_2_36_x86_64", "manylinux_2_35_x86_64"]
    assert got[-4:] == ["manylinux_2_6_x86_64", "manylinux_2_5_x86_64", "manylinux1_x86_64",
                        "linux_x86_64"]
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64"} <= set(got)
    assert got.index("manylinux2014_x86_64") == got.index("manylinux_2_17_x86_64") + 1
    arm = wheels.platform_tags("linux-aarch64", "glibc", "2.31")
    assert arm[0] == "manylinux_2_31_aarch64" and arm[-3:] == [
        "manylinux_2_17_aarch64", "manylinux2014_aarch64", "linux_aarch64"]
    assert "manylinux2010_aarch64" not in arm
    for unknown in (("linux-x86_64", "", ""), ("linux-x86_64", "musl", "1.2"),
                    ("macosx-14.0-arm64", "", ""), ("linux-x86_64", "glibc", "x")):
        assert wheels.platform_tags(*unknown) is None
    # a host with an older glibc than this machine's tags: pip here must not pick alone
    new, old = (wheels.platform_tags("linux-x86_64", "glibc", v) for v in ("2.39", "2.31"))
    assert wheels.covers(old, new) and not wheels.covers(new, old)
    assert not wheels.covers(old, None)


def test_the_probe_line_and_pip_download_for_the_hosts(tmp_path):
    from essay.pypi import sync as pypi

    version, tags, shown = pypi.parse_probe("3.11.2|linux-x86_64|glibc|2.36\n")
    assert (version, shown) == ("3.11.2", "linux-x86_64 glibc 2.36")
    assert tags == wheels.platform_tags("linux-x86_64", "glibc", "2.36")
    argv = pypi.sync_argv(tmp_path, ["flask", "supervisor"], "3.11.2", tags)
    assert argv[1:7] == ["-m", "pip", "download", "--disable-pip-version-check", "--dest",
                         str(tmp_path)]
    assert argv[7:10] == ["--only-binary=:all:", "--python-version", "3.11.2"]
    assert argv[10:14] == ["--platform", "manylinux_2_36_x86_64", "--platform",
                           "manylinux_2_35_x86_64"]
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--platform"] == tags
    assert argv[-2:] == ["flask", "supervisor"]
    assert pypi.parse_probe("3.12.1|linux-x86_64||")[1] is None    # musl: unknown
    assert pypi.sync_argv(tmp_path, ["x"])[-2:] == [str(tmp_path), "x"]   # as here: pip's own


def sdist(d, name, requires_python=None):
    import io
    import tarfile

    meta = "Metadata-Version: 2.1\nName: x\nVersion: 1\n" + \
        (f"Requires-Python: {requires_python}\n" if requires_python else "")
    path = d / f"{name}.tar.gz"
    with tarfile.open(path, "w:gz") as t:
        for member, text in ((f"{name}/setup.py", "x"), (f"{name}/PKG-INFO", meta)):
            info = tarfile.TarInfo(member)
            info.size = len(text.encode())
            t.addfile(info, io.BytesIO(text.encode()))
    return path


def test_prune_moves_sdists_by_their_requires_python(tmp_path):
    index = tmp_path / "packages"
    index.mkdir()
    sdist(index, "new-2.0", ">=3.12")
    sdist(index, "fine-1.0", ">=3.8")
    sdist(index, "any-1.0")
    moved = wheels.prune(index, (3, 11, 2))
    assert moved == [("new-2.0.tar.gz", "Requires-Python >=3.12")]
    assert sorted(p.name for p in index.iterdir()) == ["any-1.0.tar.gz", "fine-1.0.tar.gz"]
