"""Which files of the index the hosts can install: wheel tags and ``Requires-Python``
against the hosts' Python and platform. Pure, except reading a wheel's METADATA or an
sdist's PKG-INFO.

pypiserver's pages carry no ``data-requires-python``, so pip on a host cannot skip a
file made for another Python: it must not be in the index at all. ``es pypi sync``
resolves for the hosts' Python and platform (:func:`platform_tags`, from what a host's
``sysconfig.get_platform()`` and ``platform.libc_ver()`` say) and then moves every wheel
they cannot install, and every sdist whose ``Requires-Python`` excludes their Python, out
of the index directory (into ``<packages_dir>-pruned/``, nothing is deleted). An sdist
that would need a compiler is kept: whether it builds on a host is not told by its name.
"""
from __future__ import annotations

import re
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

_VERSION = re.compile(r"^3\.\d{1,2}(\.\d{1,3})?$")


def parse_version(text: str) -> tuple[int, ...]:
    """"3.11.2" -> (3, 11, 2); "3.11" -> (3, 11, 0)."""
    text = text.strip()
    if not _VERSION.fullmatch(text):
        raise ValueError(f"{text!r} is not a Python version such as 3.11 or 3.11.2")
    parts = tuple(int(p) for p in text.split("."))
    return parts + (0,) * (3 - len(parts))


#: the legacy manylinux names of a glibc version (PEP 600), and the arches that have them
_LEGACY = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
_LEGACY_ARCHES = {"manylinux2014": {"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le",
                                    "s390x"},
                  "manylinux2010": {"x86_64", "i686"}, "manylinux1": {"x86_64", "i686"}}


def platform_tags(platform: str, libc: str, libc_version: str) -> list[str] | None:
    """The wheel platform tags a Linux host installs, newest first, from its
    ``sysconfig.get_platform()`` (``linux-x86_64``) and ``platform.libc_ver()``
    (``glibc``, ``2.36``): ``manylinux_2_36_x86_64`` ... ``manylinux_2_17_x86_64``,
    ``manylinux2014_x86_64`` ... and ``linux_x86_64``. None when it cannot be told (not
    Linux, not glibc -- musl, say): then sync resolves with this machine's tags."""
    m = re.fullmatch(r"linux-([A-Za-z0-9_]+)", platform.strip())
    v = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)?", libc_version.strip())
    if not m or libc.strip() != "glibc" or not v:
        return None
    arch, (major, minor) = m.group(1), (int(v.group(1)), int(v.group(2)))
    if major != 2:
        return None
    oldest = 5 if arch in ("x86_64", "i686") else 17   # the first manylinux for the arch
    out = []
    for glibc_minor in range(minor, oldest - 1, -1):
        out.append(f"manylinux_2_{glibc_minor}_{arch}")
        legacy = _LEGACY.get((2, glibc_minor))
        if legacy and arch in _LEGACY_ARCHES[legacy]:
            out.append(f"{legacy}_{arch}")
    return out + [f"linux_{arch}"]


def covers(here: list[str], host: list[str] | None) -> bool:
    """Does the host install every platform tag this machine does (``here``)? Then pip here
    picks only wheels the host installs too (``None``: the host's tags are unknown)."""
    return host is not None and set(here) <= set(host)


def supported(version: tuple[int, ...], platforms: list[str] | None = None) -> set:
    """Every tag a CPython ``version`` on ``platforms`` (default: this machine's) installs."""
    from packaging import tags

    plats = list(platforms) if platforms else list(tags.platform_tags())
    interp = f"cp{version[0]}{version[1]}"
    return {*tags.cpython_tags(version[:2], platforms=plats),
            *tags.compatible_tags(version[:2], interp, platforms=plats)}


SDIST = (".tar.gz", ".zip")


def _metadata(path: Path) -> str:
    """A wheel's ``*.dist-info/METADATA`` or an sdist's top-level ``*/PKG-INFO`` ("" if
    none or unreadable)."""
    if path.name.endswith(".whl"):
        want = lambda n: n.count("/") == 1 and n.endswith(".dist-info/METADATA")  # noqa: E731
    else:
        want = lambda n: n.count("/") == 1 and n.endswith("/PKG-INFO")  # noqa: E731
    try:
        if path.name.endswith(".tar.gz"):
            with tarfile.open(path, "r:gz") as t:
                member = next((m for m in t if want(m.name) and m.isfile()), None)
                data = t.extractfile(member).read() if member else b""
        else:
            with zipfile.ZipFile(path) as z:
                name = next((n for n in z.namelist() if want(n)), None)
                data = z.read(name) if name else b""
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError):
        return ""
    return data.decode("utf-8", "replace")


def requires_python(path: Path) -> str:
    """The wheel's or sdist's ``Requires-Python`` ("" if none or unreadable)."""
    text = _metadata(path)
    return (HeaderParser().parsestr(text).get("Requires-Python") or "").strip() if text else ""


def why_not(wheel: Path, version: tuple[int, ...], tagset: set) -> str | None:
    """Why a host with ``version`` and ``tagset`` cannot install ``wheel`` (or an sdist:
    its ``Requires-Python`` only); None if it can."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    if wheel.name.endswith(".whl"):
        try:
            _, _, _, wheel_tags = parse_wheel_filename(wheel.name)
        except InvalidWheelFilename:
            return None   # not ours to judge
        if not any(t in tagset for t in wheel_tags):
            return f"tags {', '.join(sorted(str(t) for t in wheel_tags))} do not fit"
    elif not wheel.name.endswith(SDIST):
        return None
    spec = requires_python(wheel)
    if spec:
        try:
            ok = SpecifierSet(spec).contains(".".join(map(str, version)), prereleases=True)
        except InvalidSpecifier:
            return None
        if not ok:
            return f"Requires-Python {spec}"
    return None


def prune(directory: Path, version: tuple[int, ...], platforms=None) -> list[tuple[str, str]]:
    """Move the files in ``directory`` the hosts cannot install (wheels; sdists by their
    Requires-Python) into ``<directory>-pruned/``; returns [(file name, why)]."""
    tagset = supported(version, platforms)
    moved = []
    aside = directory.parent / f"{directory.name}-pruned"
    for wheel in sorted(p for p in directory.iterdir() if p.is_file()):
        why = why_not(wheel, version, tagset)
        if why:
            aside.mkdir(exist_ok=True)
            wheel.replace(aside / wheel.name)
            moved.append((wheel.name, why))
    return moved
