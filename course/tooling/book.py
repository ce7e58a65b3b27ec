"""The course as a static website a self-learner can read, and launch from (``make book``).

``python -m course.tooling.book [--out _build/book]`` runs every ready lesson's solution
notebook top to bottom in one kernel with no connection off the machine (a real-data section
reads ``COURSE_DATA_MIRROR`` or the download cache where they hold its files, and otherwise
says that it skipped), turns each into a page, builds the site with Sphinx, myst-nb and
sphinx-book-theme (settings in ``book/conf.py``) and prints the path of ``index.html``.

The site's sources are made at build time in ``<out>/src``, so no lesson text is kept twice:

* ``index.md``: the README, its syllabus linked to the lessons, its links to the repository's
  files pointed at the repository, its external images replaced by their text;
* ``lessons/<id>/<id>.ipynb``: the executed solution notebook made a page by ``page()``:
  hidden tests and the test cells' outputs removed, solutions and answer notes folded,
  widgets reduced to the figure they drew with their default values, and "Launch on Binder"
  and "Download the student notebook" (``lessons/<id>/<id>.ipynb``) under the title. The
  page keeps the student notebook's path, which is also the one Binder opens.
"""
from __future__ import annotations

import argparse
import copy
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from .. import lessons

__all__ = ["HIDDEN_TESTS", "WIDGET_VIEW", "binder_url", "repository_url", "page", "landing",
           "execute", "build", "main"]

CONF_DIR = lessons.ROOT / "book"
DEFAULT_OUT = lessons.ROOT / "_build" / "book"
#: a hidden-test block of a graded test cell, markers included
HIDDEN_TESTS = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?",
                          re.M | re.S)
SOLUTION_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?", re.M)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
BINDER = re.compile(r"https://mybinder\.org/v2/gh/(?P<repo>[\w.-]+/[\w.-]+)/(?P<ref>[^?)\s]+)"
                    r"\?urlpath=lab/tree/")
STUDENT_DIR = "student"     # in the sources: the student notebooks, downloads only


def readme() -> str:
    return (lessons.ROOT / "README.md").read_text(encoding="utf-8")


def binder_url(lesson_id: str, text: str) -> str:
    """The README's Binder launch URL, opening ``lessons/<id>/<id>.ipynb``."""
    match = BINDER.search(text)
    if match is None:
        raise ValueError("README.md has no mybinder.org launch URL to build the lessons' from")
    return f"{match.group(0)}lessons/{lesson_id}/{lesson_id}.ipynb"


def repository_url(text: str) -> str:
    """The GitHub repository the README's Binder URL builds from."""
    match = BINDER.search(text)
    if match is None:
        raise ValueError("README.md has no mybinder.org launch URL naming the repository")
    return f"https://github.com/{match.group('repo')}"


def _grading(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _fold(cell, show: str, hide: str) -> None:
    """Fold a code cell's source behind a toggle labelled ``show`` (myst-nb's hide-input)."""
    meta = cell.setdefault("metadata", {})
    tags = meta.setdefault("tags", [])
    if "hide-input" not in tags:
        tags.append("hide-input")
    meta.setdefault("mystnb", {}).update(code_prompt_show=show, code_prompt_hide=hide)


def _code_cell(cell) -> None:
    """Hidden tests and test outputs out, solutions folded, widgets reduced to their figure."""
    meta = _grading(cell)
    if meta.get("grade") and not meta.get("solution"):
        # a test's output may come from its hidden part; a passing test needs none shown
        cell.source = HIDDEN_TESTS.sub("", cell.source).rstrip() + "\n"
        cell.outputs = []
        _fold(cell, "Show the checks", "Hide the checks")
    elif meta.get("solution"):
        cell.source = SOLUTION_MARKER.sub("", cell.source)
        _fold(cell, "Show solution", "Hide solution")
    # a widget needs a kernel: the figure it drew with its default values stays, as an image
    cell.outputs = [out for out in cell.outputs if WIDGET_VIEW not in out.get("data", {})]


def _answer_notes(cell) -> None:
    """Fold the notes on a written answer into a dropdown (sphinx-togglebutton)."""
    fence = ":" * max(4, 1 + max((len(m) for m in re.findall(r"^:{3,}", cell.source, re.M)),
                                 default=0))
    cell.source = (f"{fence}{{admonition}} Show the answer notes\n:class: dropdown\n\n"
                   f"{cell.source.strip()}\n{fence}\n")


def _launch_bar(lesson_id: str, text: str):
    """A markdown cell: "Launch on Binder" and "Download the student notebook"."""
    return nbformat.v4.new_markdown_cell(
        "{.course-launch}\n"
        f"[Launch on Binder]({binder_url(lesson_id, text)}) "
        f"{{download}}`Download the student notebook <../../{STUDENT_DIR}/{lesson_id}.ipynb>`\n")


def page(executed: nbformat.NotebookNode, lesson_id: str, text: str) -> nbformat.NotebookNode:
    """The site's page of one lesson, from its executed solution notebook (left unchanged).

    ``text`` is the README (for the Binder URL). Hidden tests go, with every output of the
    test cells; solutions (code) and answer notes (markdown) are folded behind a toggle;
    widget views go, the figure they drew stays; nbgrader's cell metadata stays.
    """
    nb = copy.deepcopy(executed)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            _code_cell(cell)
        elif cell.cell_type == "markdown" and _grading(cell).get("solution"):
            _answer_notes(cell)
    first = nb.cells[0] if nb.cells else None
    title = re.match(r"#[^#].*\n?", first.source) if first and first.cell_type == "markdown" else None
    if title is None:
        raise ValueError(f"{lesson_id}: the notebook does not open with a '# title' cell")
    rest = first.source[title.end():]
    first.source = title.group(0).rstrip("\n")
    bar = _launch_bar(lesson_id, text)
    tail = [nbformat.v4.new_markdown_cell(rest)] if rest.strip() else []
    nb.cells[1:1] = [bar, *tail]
    return nb


def _readme_links(text: str, ready: list[str], repo: str) -> str:
    """Syllabus ids link to their pages; repository paths to the repository; external images
    become their text (the site is read offline)."""
    # a badge linking out (Binder's) becomes a button
    text = re.sub(r"^\[!\[([^\]]*)\]\(https?://[^)]+\)\]\(([^)\s]+)\)$",
                  r"{.course-launch}\n[\1](\2)", text, flags=re.M)
    text = re.sub(r"!\[([^\]]*)\]\(https?://[^)]+\)", r"\1", text)
    for lesson_id in ready:
        text = re.sub(rf"^\| `{lesson_id}` \|",
                      f"| [`{lesson_id}`](lessons/{lesson_id}/{lesson_id}.ipynb) |", text,
                      flags=re.M)

    def to_repo(match: re.Match) -> str:
        target = match.group(2)
        if re.match(r"[a-z]+:|#|lessons/\d", target):
            return match.group(0)
        return f"{match.group(1)}({repo}/blob/HEAD/{target})"

    return re.sub(r"(\[[^\]]*\])\(([^)\s]+)\)", to_repo, text)


def landing(text: str, ready: list[str]) -> str:
    """``index.md``: the README, linked up, with the lessons' table of contents (hidden: the
    theme shows it in the sidebar and as next/previous links)."""
    toc = "\n".join(f"lessons/{i}/{i}" for i in ready)
    return (_readme_links(text, ready, repository_url(text)).rstrip() + "\n\n"
            f"```{{toctree}}\n:hidden:\n:caption: Lessons\n\n{toc}\n```\n")


def execute(lesson_ids: list[str], log=print) -> dict[str, nbformat.NotebookNode]:
    """Every lesson's solution run in one kernel, offline; ``{id: executed notebook}``."""
    from .binder import run_in_one_kernel

    rows = run_in_one_kernel(lesson_ids, offline=True, keep_data=True, one_cpu=False,
                             keep_outputs=True, log=log)
    failed = [f"{r['lesson']}: {r['error']}" for r in rows if not r["ok"]]
    if failed:
        raise RuntimeError("lessons failed to run, so the book is not built:\n" + "\n".join(failed))
    return {r["lesson"]: r["notebook"] for r in rows}


def write_sources(src: Path, executed: dict[str, nbformat.NotebookNode]) -> None:
    """The site's sources in ``src`` (emptied first): index.md, one page per lesson, and the
    student notebooks to download."""
    shutil.rmtree(src, ignore_errors=True)
    (src / STUDENT_DIR).mkdir(parents=True)
    text = readme()
    ready = [lesson.id for lesson in lessons.SYLLABUS if lesson.id in executed]
    (src / "index.md").write_text(landing(text, ready), encoding="utf-8")
    for lesson_id in ready:
        dest = src / "lessons" / lesson_id / f"{lesson_id}.ipynb"
        dest.parent.mkdir(parents=True)
        nbformat.write(page(executed[lesson_id], lesson_id, text), str(dest))
        shutil.copy(lessons.lesson_path(lesson_id), src / STUDENT_DIR / f"{lesson_id}.ipynb")


def build(executed: dict[str, nbformat.NotebookNode], out: Path = DEFAULT_OUT) -> Path:
    """Write the sources into ``out/src``, build the site into ``out/html``; its index.html.

    Sphinx runs in its own process with ``-W``: a warning (a broken cross-reference, an image
    it cannot find) fails the build, with Sphinx's messages in the exception.
    """
    write_sources(out / "src", executed)
    html = out / "html"
    shutil.rmtree(html, ignore_errors=True)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going",
           "-c", str(CONF_DIR), "-d", str(out / "doctrees"), str(out / "src"), str(html)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"sphinx-build failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return html / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.tooling.book", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="build folder: sources in OUT/src, the site in OUT/html")
    args = parser.parse_args(argv)
    ready = [lesson.id for lesson in lessons.SYLLABUS if lesson.status == "ready"]
    start = time.perf_counter()
    print(f"Running {len(ready)} lessons in one kernel, offline ...", flush=True)
    executed = execute(ready, log=lambda row: print(" ", row, flush=True))
    ran = time.perf_counter() - start
    index = build(executed, args.out.resolve())
    print(f"Built in {time.perf_counter() - start:.0f} s ({ran:.0f} s running the lessons, "
          f"{time.perf_counter() - start - ran:.0f} s Sphinx). Serve it with\n"
          f"  python -m http.server -d {index.parent}\n{index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
