"""Submissions in, nbgrader's submitted layout out, with a reason for everything refused.

Sources: one or more folders or zips, read as they come: a Canvas or Moodle assignment export
(flat, a folder per student, zips inside the zip), nbgrader's collected
``<dir>/<student>/<assignment>/*.ipynb``, a folder per student, or flat
``<student>_*.ipynb`` (``lms.origin`` reads a file's path). With a roster (the gradebook's
students, ``roster``), the names, LMS ids and e-mails an export carries map onto course ids,
unicode and apostrophes included; without one, the name in the path must be a usable id.

A student with several notebooks (a resubmission, or the same student in two sources): a
notebook named after the assignment beats others, then the latest submission time wins (the
exchange's ``timestamp.txt``, else the zip entry's time); the choice is reported. Each notebook
is staged as ``<submitted>/<student>/<assignment>/<assignment>.ipynb``, beside its
``timestamp.txt`` (the exchange's, or written from the zip entry's time) and the exchange's
``submission_secret.txt``. A student's nbgrader folder without a notebook is *missing*.

Refused, each with a reason that says what to do, without effect on the others: ids that are
not usable and names no roster student matches, notebooks over the size limit, links and
special files, several notebooks without times to choose; in zips also entries whose path
climbs out of the archive (never attributed to a student), links, encrypted entries, entries
that decompress beyond the size limit (counted while decompressing, not read from the headers),
duplicates, and archives with too many entries. Only notebooks, ``timestamp.txt`` and nested
zips are extracted.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator

from nbgrader.utils import parse_utc

from . import lms
from .roster import Hints, Roster, valid_id

MAX_ENTRIES = 20_000  # entries read from one archive, nested ones included
MAX_TOTAL_MB = 8192  # bytes extracted from one archive, all entries together
MAX_DEPTH = 3  # zips inside zips
CHUNK = 1 << 20
# what nbgrader's exchange puts beside a notebook; release_feedback names feedback after them
EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")
MAX_SMALL = 4096  # bytes: either file holds one line
SKIPPED = ("__MACOSX", ".")
UNUSABLE = ("the student id is not usable: ASCII letters, digits and . _ - only, starting with a "
            "letter or digit, at most 64 characters. Import a roster that maps this name to a course "
            "id (python -m autograder roster FILE), or rename the file to <course id>_<anything>.ipynb")


class IntakeError(ValueError):
    """The submissions folder or archive has no layout we recognise."""


@dataclass(frozen=True)
class Candidate:
    """A notebook found for a student; ``time`` is its submission time (UTC) when known."""

    path: Path
    shown: str  # where it came from, for reports
    time: dt.datetime | None = None
    own_folder: bool = False  # nbgrader's layout: the folder is the student's own submission
    late: bool = False  # the LMS marked it late


@dataclass
class Intake:
    staged: dict[str, Path] = field(default_factory=dict)  # student -> staged notebook
    rejected: dict[str, str] = field(default_factory=dict)  # student -> reason
    unowned: dict[str, str] = field(default_factory=dict)  # what belongs to no one here -> reason
    missing: dict[str, str] = field(default_factory=dict)  # student -> why nothing is graded
    notes: dict[str, str] = field(default_factory=dict)  # student -> what intake chose and why
    lms_ids: dict[str, str] = field(default_factory=dict)  # student -> the LMS id in the export


def label(raw: str) -> str:
    """A refused id or entry name made safe to print and to put in a CSV cell: unicode stays,
    control and invisible characters are escaped, and a leading formula character is quoted."""
    text = "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in raw)[:80]
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def stamp(time: dt.datetime) -> str:
    """A time as nbgrader's exchange writes ``timestamp.txt``."""
    return time.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f %Z")


# ----------------------------------------------------------------------------- opening sources

@contextlib.contextmanager
def opened(source: Path, max_mb: float, tz: dt.tzinfo = dt.timezone.utc
           ) -> Iterator[tuple[Path, dict[str, str], dict[Path, dt.datetime]]]:
    """A folder view of ``source``, what extracting it refused (entry name -> reason), and the
    time of each extracted file (zip entries carry local times without a zone: ``tz``)."""
    source = Path(source)
    if source.is_dir():
        yield source, {}, {}
        return
    if not source.exists() or not zipfile.is_zipfile(source):
        missing = "" if source.exists() else " (it does not exist)"
        raise IntakeError(f"{source} is neither a folder nor a zip archive{missing}")
    with tempfile.TemporaryDirectory(prefix="autograder-zip-") as tmp, zipfile.ZipFile(source) as zf:
        refused, times = {}, {}
        _extract(zf, Path(tmp), max_mb, tz, refused, times, [MAX_TOTAL_MB * 2**20, MAX_ENTRIES], "")
        yield Path(tmp), refused, times


def _extract(zf: zipfile.ZipFile, dest: Path, max_mb: float, tz: dt.tzinfo, refused: dict[str, str],
             times: dict[Path, dt.datetime], budget: list[int], prefix: str, depth: int = 0) -> None:
    """Extract notebooks, timestamps and nested zips of ``zf`` under ``dest``; ``budget`` holds
    the bytes and entries left for the whole archive; ``prefix`` names a nested zip's entries."""
    entries = zf.infolist()
    budget[1] -= len(entries)
    if budget[1] < 0:
        raise IntakeError(f"the archive has over {MAX_ENTRIES} entries (zips inside included)")
    for info in entries:
        name = info.filename.replace("\\", "/")
        shown = prefix + name
        parts = PurePosixPath(name).parts
        kind = stat.S_IFMT(info.external_attr >> 16)
        nested = name.lower().endswith(".zip")
        if info.is_dir() or not (name.endswith((".ipynb", "/timestamp.txt")) or nested):
            continue  # only notebooks, their timestamps and nested zips are read
        if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
            refused[shown] = ("the archive entry's path leaves the archive's folder: it names no one "
                              "here and nothing of it is read (if it is a student's work, ask for it again)")
        elif any(p.startswith(SKIPPED) for p in parts):
            continue  # macOS's resource forks, hidden files
        elif kind and kind != stat.S_IFREG:
            refused[shown] = "the archive entry is a link or a special file: ask for the notebook itself"
        elif info.flag_bits & 0x1:
            refused[shown] = "the archive entry is encrypted: ask for it without a password"
        elif (dest / name).exists() or (nested and (dest / name[:-4]).exists()):
            refused[shown] = "the archive has this entry twice: keep one and give the archive again"
        elif nested and depth >= MAX_DEPTH:
            refused[shown] = (f"zips nested deeper than {MAX_DEPTH} levels are not opened: unpack "
                              "this one and give its folder")
        else:
            target = dest / (name + ".part" if nested else name)
            cap = min(budget[0], max_mb * 2**20 * (50 if nested else 1))
            written = _copy_capped(zf, info, target, cap)
            if written is None:
                refused[shown] = (f"the archive entry decompresses to over {cap / 2**20:g} MB "
                                  "(a zip bomb, or a notebook with huge outputs): ask for it with "
                                  "outputs cleared")
            elif isinstance(written, str):
                refused[shown] = written
            else:
                budget[0] -= written
                if nested:
                    _open_nested(target, dest / name[:-4], max_mb, tz, refused, times, budget,
                                 shown + "/", depth)
                else:
                    times[target] = dt.datetime(*info.date_time, tzinfo=tz).astimezone(dt.timezone.utc)


def _open_nested(path: Path, dest: Path, max_mb: float, tz: dt.tzinfo, refused: dict[str, str],
                 times: dict[Path, dt.datetime], budget: list[int], prefix: str, depth: int) -> None:
    """A zip inside the zip (a student's upload, or an LMS's zip of zips), into its own folder."""
    try:
        with zipfile.ZipFile(path) as inner:
            dest.mkdir(parents=True)
            _extract(inner, dest, max_mb, tz, refused, times, budget, prefix, depth + 1)
    except zipfile.BadZipFile as exc:
        refused[prefix.rstrip("/")] = f"the nested zip cannot be read ({str(exc)[:100]}): ask for it again"
    finally:
        path.unlink()


def _copy_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, cap: float) -> int | str | None:
    """Bytes written; ``None`` past ``cap`` (the partial file is removed); a reason on errors."""
    if info.file_size > cap:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with zf.open(info) as src, open(target, "wb") as dst:
            while chunk := src.read(CHUNK):
                written += len(chunk)
                if written > cap:
                    break
                dst.write(chunk)
    except (zipfile.BadZipFile, RuntimeError, OSError, EOFError, NotImplementedError) as exc:
        target.unlink(missing_ok=True)
        return (f"the archive entry cannot be read ({type(exc).__name__}: {str(exc)[:100]}): "
                "ask for it again")
    if written > cap:
        target.unlink()
        return None
    return written


# ----------------------------------------------------------------------------- finding notebooks

def _regular(path: Path) -> str | None:
    """Why ``path`` is not a regular file we may copy, or ``None``."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return f"{path.name} is a symbolic link: put the notebook itself in its place"
    return None if stat.S_ISREG(mode) else f"{path.name} is not a regular file: put the notebook there"


def _walk(folder: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """(notebooks, linked folders, folders) under ``folder``, never following a link."""
    notebooks, links, folders = [], [], []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(SKIPPED))
        for d in list(dirs):
            if (here / d).is_symlink():
                links.append(here / d)
                dirs.remove(d)
        folders += [here / d for d in dirs]
        notebooks += [here / f for f in sorted(files) if f.endswith(".ipynb") and not f.startswith(SKIPPED)]
        if len(notebooks) > MAX_ENTRIES:
            raise IntakeError(f"{folder} holds over {MAX_ENTRIES} notebooks")
    return notebooks, links, folders


def _wrapper(paths: list[PurePosixPath]) -> int:
    """How many top folders every file shares, up to the first level where they differ, when
    that level holds several folders (the students'): an export's wrapper, e.g. ``export/``."""
    depth = 0
    while all(len(p.parts) > depth + 1 for p in paths) and len({p.parts[depth] for p in paths}) == 1:
        depth += 1
    below = {p.parts[depth] for p in paths if len(p.parts) > depth + 1}
    return depth if len(below) >= 2 or not below else 0


def _time(path: Path, times: dict[Path, dt.datetime]) -> dt.datetime | None:
    """The exchange's timestamp beside the notebook, else the zip entry's time."""
    stamp_file = path.parent / "timestamp.txt"
    if stamp_file.is_file() and not stamp_file.is_symlink() and stamp_file.stat().st_size <= MAX_SMALL:
        with contextlib.suppress(ValueError, OverflowError):
            return parse_utc(stamp_file.read_text().strip()).replace(tzinfo=dt.timezone.utc)
    return times.get(path)


@dataclass
class _Found:
    candidates: dict[str, list[Candidate]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # student -> reason
    unowned: dict[str, str] = field(default_factory=dict)  # a name or file no student has
    missing: dict[str, str] = field(default_factory=dict)
    lms_ids: dict[str, str] = field(default_factory=dict)


def _owner(origin: lms.Origin, roster: Roster) -> tuple[str | None, str]:
    """The course id a file's origin names, or ``(None, why not)``. With a roster, a name an
    LMS gives must match a student on it; an id in nbgrader's or a plain layout may also be
    a student not on the roster yet."""
    hints = origin.hints
    if roster:
        student, why = roster.match(hints)
        if student or origin.layout in ("canvas", "moodle") or not valid_id(hints.course_id):
            return student, why
    return (hints.course_id, "") if valid_id(hints.course_id) else (None, UNUSABLE)


def _key(origin: lms.Origin | None, shown: str) -> str:
    """How a refusal is listed: the name the export gives the student, else the file."""
    if origin is None:
        return f"file {label(shown)}"
    return label(origin.hints.name or origin.hints.course_id or origin.hints.lms_id)


def find(folder: Path, assignment: str, roster: Roster, times: dict[Path, dt.datetime],
         name: str, found: _Found) -> None:
    """Add what ``folder`` (the source ``name``) holds for ``assignment`` to ``found``."""
    notebooks, links, folders = _walk(folder)
    rel = {p: PurePosixPath(p.relative_to(folder).as_posix()) for p in notebooks + links + folders}
    wrapper = _wrapper([rel[p] for p in notebooks]) if notebooks else 0
    # a linked folder is refused as its student's (as if it held a notebook)
    origins = {p: lms.origin(rel[p] / "x.ipynb" if p in links else rel[p], assignment, wrapper)
               for p in notebooks + links}
    if any(o and o.layout == "nbgrader" for o in origins.values()):  # e.g. autograder/submitted:
        origins = {p: o for p, o in origins.items() if o and o.layout == "nbgrader"}  # this one only
    for path, origin in origins.items():
        shown = f"{name}: {rel[path]}"
        student, why = _owner(origin, roster) if origin else (None, (
            "cannot tell whose notebook this is: put it in a folder named after the student, "
            "or name it <course id>_<anything>.ipynb"))
        if student is None:
            found.unowned.setdefault(_key(origin, str(rel[path])), why)
            continue
        problem = ("the submission folder is a symbolic link: put the folder itself in its place"
                   if path in links else _regular(path))
        if problem:
            found.refused.setdefault(student, problem)
            continue
        if origin.hints.lms_id:
            found.lms_ids[student] = origin.hints.lms_id
        found.candidates.setdefault(student, []).append(Candidate(
            path, shown, _time(path, times), origin.layout == "nbgrader", origin.late))
    for path in folders:  # nbgrader's <student>/<assignment>/ without a notebook
        if path.name == assignment and not any(path.glob("*.ipynb")) and len(rel[path].parts) >= 2:
            owner = Hints(course_id=path.parent.name, name=path.parent.name)
            student, _ = _owner(lms.Origin(owner, "nbgrader"), roster)
            if student and student not in found.candidates:
                found.missing[student] = (f"the submission folder holds no notebook "
                                          f"({path.parent.name}/{assignment}/)")


def _when(c: Candidate) -> str:
    return c.time.strftime("%Y-%m-%d %H:%M UTC") if c.time else "no time"


def choose(assignment: str, candidates: list[Candidate]) -> tuple[Candidate | None, str]:
    """The notebook to grade and a note on the choice, or ``(None, why none)``."""
    named = [c for c in candidates if assignment in c.path.stem] or candidates
    others = [c for c in candidates if c not in named]
    if len(named) > 1:
        if any(c.time is None for c in named) or len({c.time for c in named}) < len(named):
            listed = "; ".join(f"{c.shown} ({_when(c)})" for c in named)
            return None, (f"{len(named)} notebooks and no submission times to choose between them "
                          f"({listed}): keep one, or give the LMS's zip as downloaded (its entries "
                          "carry the submission times)")
        named = sorted(named, key=lambda c: c.time)
        others += named[:-1]
    kept = named[-1]
    note = (f"{len(candidates)} notebooks: graded {kept.shown} ({_when(kept)}), the latest named "
            f"after the assignment; not graded: " + "; ".join(f"{c.shown} ({_when(c)})" for c in others)
            ) if others else ""
    return kept, note


# ----------------------------------------------------------------------------- staging

def stage(student: str, kept: Candidate, assignment: str, submitted: Path, max_mb: float) -> str | None:
    """Copy the notebook to ``submitted/<student>/<assignment>/<assignment>.ipynb`` with its
    exchange files (or a ``timestamp.txt`` of its zip entry's time); why not, if refused."""
    size = kept.path.stat().st_size
    if size > max_mb * 2**20:
        return (f"the notebook is {size / 2**20:.1f} MB, over the {max_mb:g} MB limit "
                "(clear large outputs and resubmit)")
    dest = submitted / student / assignment
    target = dest / f"{assignment}.ipynb"
    if dest.is_dir() and kept.path.parent.resolve() == dest.resolve():  # graded in place
        if kept.path.resolve() != target.resolve():
            shutil.copyfile(kept.path, target)
        return None
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    shutil.copyfile(kept.path, target)
    for name in EXCHANGE_FILES if kept.own_folder else ():
        source = kept.path.parent / name
        if source.exists() and not _regular(source) and source.stat().st_size <= MAX_SMALL:
            shutil.copyfile(source, dest / name)
    if kept.time and not (dest / "timestamp.txt").exists():
        (dest / "timestamp.txt").write_text(stamp(kept.time))
    return None


def intake(sources: Path | list[Path], assignment: str, submitted: Path, max_mb: float = 20.0,
           roster: Roster | None = None, tz: dt.tzinfo = dt.timezone.utc) -> Intake:
    """Find the submissions in ``sources`` (folders or zips), stage the usable ones, and say
    why each other one was refused."""
    sources = [sources] if isinstance(sources, (str, Path)) else list(sources)
    roster, found, result = roster or Roster(), _Found(), Intake()
    with contextlib.ExitStack() as stack:
        for source in sources:
            folder, refused_entries, times = stack.enter_context(opened(source, max_mb, tz))
            find(folder, assignment, roster, times, Path(source).name, found)
            for entry, reason in refused_entries.items():
                _refuse_entry(entry, reason, assignment, roster, found)
        if not found.candidates and not found.refused and not found.unowned:
            empty = f" ({len(found.missing)} student folders hold no notebook)" if found.missing else ""
            where = ", ".join(str(s) for s in sources)
            raise IntakeError(f"no submissions of {assignment} in {where}{empty}: expected a Canvas "
                              f"or Moodle export, <student>/{assignment}/*.ipynb or <student>_*.ipynb")
        for student, candidates in sorted(found.candidates.items()):
            if student in found.refused:
                continue
            kept, note = choose(assignment, candidates)
            why = stage(student, kept, assignment, submitted, max_mb) if kept else note
            if why:
                result.rejected[student] = why
                continue
            result.staged[student] = submitted / student / assignment / f"{assignment}.ipynb"
            marks = [note] + [f"the LMS marked {c.shown} late" for c in [kept] if c.late]
            if any(marks):
                result.notes[student] = "; ".join(m for m in marks if m)
    result.rejected |= found.refused
    result.unowned = found.unowned
    result.missing = {s: why for s, why in found.missing.items() if s not in result.staged
                      and s not in result.rejected}
    result.lms_ids = {s: i for s, i in found.lms_ids.items() if s in result.staged}
    return result


def _refuse_entry(entry: str, reason: str, assignment: str, roster: Roster, found: _Found) -> None:
    """A refused archive entry: the student's, unless its path left the archive (then it is
    listed by itself: such a path names no one in this class)."""
    if "leaves the archive" not in reason:
        origin = lms.origin(PurePosixPath(entry), assignment)
        student, _ = _owner(origin, roster) if origin else (None, "")
        if student:
            found.refused.setdefault(student, reason)
            found.candidates.pop(student, None)
            return
    found.unowned.setdefault(f"archive entry {label(entry)}", reason)
