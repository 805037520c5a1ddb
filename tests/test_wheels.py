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
