"""Which files of the index the hosts can install: wheel tags and ``Requires-Python``
against the hosts' Python and platform. Pure, except reading a wheel's METADATA.

pypiserver's pages carry no ``data-requires-python``, so pip on a host cannot skip a
wheel made for another Python: it must not be in the index at all. ``es pypi sync``
resolves for the hosts' Python and then moves every wheel they cannot install out of the
index directory (into ``<packages_dir>-pruned/``, nothing is deleted).
"""
from __future__ import annotations

import re
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


def supported(version: tuple[int, ...], platforms: list[str] | None = None) -> set:
    """Every tag a CPython ``version`` on ``platforms`` (default: this machine's) installs."""
    from packaging import tags

    plats = list(platforms) if platforms else list(tags.platform_tags())
    interp = f"cp{version[0]}{version[1]}"
    return {*tags.cpython_tags(version[:2], platforms=plats),
            *tags.compatible_tags(version[:2], interp, platforms=plats)}


def requires_python(wheel: Path) -> str:
    """The wheel's ``Requires-Python`` ("" if none or unreadable)."""
    try:
        with zipfile.ZipFile(wheel) as z:
            meta = next((n for n in z.namelist()
                         if n.count("/") == 1 and n.endswith(".dist-info/METADATA")), None)
            if meta is None:
                return ""
            headers = HeaderParser().parsestr(z.read(meta).decode("utf-8", "replace"))
            return (headers.get("Requires-Python") or "").strip()
    except (OSError, zipfile.BadZipFile):
        return ""


def why_not(wheel: Path, version: tuple[int, ...], tagset: set) -> str | None:
    """Why a host with ``version`` and ``tagset`` cannot install ``wheel``; None if it can."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    try:
        _, _, _, wheel_tags = parse_wheel_filename(wheel.name)
    except InvalidWheelFilename:
        return None   # not ours to judge
    if not any(t in tagset for t in wheel_tags):
        return f"tags {', '.join(sorted(str(t) for t in wheel_tags))} do not fit"
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
    """Move the wheels in ``directory`` the hosts cannot install into
    ``<directory>-pruned/``; returns [(file name, why)]."""
    tagset = supported(version, platforms)
    moved = []
    aside = directory.parent / f"{directory.name}-pruned"
    for wheel in sorted(directory.glob("*.whl")):
        why = why_not(wheel, version, tagset)
        if why:
            aside.mkdir(exist_ok=True)
            wheel.replace(aside / wheel.name)
            moved.append((wheel.name, why))
    return moved
