"""Real datasets: a small registry of pinned files, fetched with their SHA-256 checked.

``fetch(name)`` looks for each file of a dataset, in this order:

1. a mirror directory named by ``COURSE_DATA_MIRROR`` (holding ``<dataset>/<file>``; CI
   points it at ``../shared/datasets``);
2. the cache, ``~/.cache/nearmiss-course`` or the directory named by ``COURSE_DATA_CACHE``;
3. the file's pinned URL, downloaded with ``urllib`` into the cache.

Every file is checked against the registry's SHA-256 before use. Data files are never
committed to the repository; ``datasets/registry.json`` holds their names, sizes, checksums
and URLs, and ``datasets/<name>.md`` the data card (source, licence, attribution).
"""
from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from .lessons import ROOT

__all__ = ["DatasetUnavailable", "REGISTRY_PATH", "registry", "cache_dir", "mirror_dir",
           "sha256", "fetch", "or_skip"]

REGISTRY_PATH = ROOT / "datasets" / "registry.json"


class DatasetUnavailable(RuntimeError):
    """A dataset cannot be used here; the message says why in one sentence."""


def registry() -> dict:
    """``{name: {"license", "source", "card", "files": [{"file", "bytes", "sha256", "url"}]}}``."""
    return json.loads(REGISTRY_PATH.read_text(encoding="utf-8"))


def cache_dir() -> Path:
    return Path(os.environ.get("COURSE_DATA_CACHE") or Path.home() / ".cache" / "nearmiss-course")


def mirror_dir() -> Path | None:
    value = os.environ.get("COURSE_DATA_MIRROR")
    return Path(value) if value else None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, dest: Path, timeout: float) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as f:
            f.write(response.read())
    except (urllib.error.URLError, OSError) as err:
        partial.unlink(missing_ok=True)
        raise DatasetUnavailable(f"could not download {url} ({err}); connect to the internet "
                                 "or set COURSE_DATA_MIRROR to a local copy") from err
    partial.replace(dest)


def _one(name: str, entry: dict, timeout: float) -> Path:
    mirror = mirror_dir()
    if mirror is not None and (mirror / name / entry["file"]).exists():
        path = mirror / name / entry["file"]
        if sha256(path) != entry["sha256"]:
            raise DatasetUnavailable(f"{path} does not match its registered SHA-256 "
                                     "(a corrupted or different file); replace it")
        return path
    path = cache_dir() / name / entry["file"]
    if path.exists() and sha256(path) == entry["sha256"]:
        return path
    _download(entry["url"], path, timeout)
    if sha256(path) != entry["sha256"]:
        path.unlink()
        raise DatasetUnavailable(f"the download of {entry['url']} does not match its "
                                 "registered SHA-256, so it was discarded")
    return path


def fetch(name: str, files: list[str] | None = None, timeout: float = 30.0) -> dict[str, Path]:
    """Local, checksum-verified paths of a dataset's files.

    Args:
        name: a dataset in the registry, e.g. ``"persona-statements"``.
        files: which of its files (default: all).
        timeout: seconds to wait for each download.

    Returns:
        ``{file name: path}``.

    Raises:
        DatasetUnavailable: unknown dataset or file, a checksum mismatch, or no mirror, no
            cache and no network.
    """
    known = registry()
    if name not in known:
        raise DatasetUnavailable(f"unknown dataset {name!r}; known: {', '.join(known)}")
    entries = {e["file"]: e for e in known[name]["files"]}
    missing = sorted(set(files or ()) - set(entries))
    if missing:
        raise DatasetUnavailable(f"{name} has no file(s) {', '.join(missing)}")
    return {f: _one(name, entries[f], timeout) for f in (files or entries)}


def or_skip(func: Callable[..., dict], *args, **kwargs) -> dict:
    """``func(*args, **kwargs)``, or ``{"skipped": reason}`` when a dataset it needs is
    unavailable (the reason is one sentence, for a lesson to print)."""
    try:
        return func(*args, **kwargs)
    except DatasetUnavailable as err:
        return {"skipped": str(err)}
