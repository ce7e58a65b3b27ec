"""Students' feedback pages: every score with the grader's comments, written answers not graded
yet shown as pending, the late penalty with its reason; never hidden test code, never a rubric,
never a script.

nbgrader's ``generate_feedback`` as it ships writes each test cell as it ran, hidden tests
included (tracebacks quote their lines, nbgrader issue #1363), and every student's markdown and
HTML outputs as they are. Here, nbgrader's own feedback machinery (``GetGrades``, its
``feedback`` template, the ``GenerateFeedback`` preprocessor list and exporter class) runs with:

* ``FeedbackGrades``: nbgrader's ``GetGrades``, plus what the page says beyond the scores:
  pending written answers, autograded and manual points, lateness and the late policy;
* ``HideHiddenTests``: the hidden part of each test cell becomes one comment, and its outputs
  one line (which test cell failed, in its visible or hidden part, and the error's message);
  printed output of those cells is dropped, as a submission could print the test from inside it;
* ``DropRubrics``: the rubric cells the grader sees in the formgrader (``manual``) are removed;
* ``SafeFeedback``: the page's body is sanitized with nh3 (the Rust ``ammonia`` sanitizer):
  scripts, event handlers, ``javascript:`` URLs, SVG and MathML, frames, forms and styles go,
  images stay only as ``data:`` images; the head is rebuilt from the template's style sheets,
  and a Content-Security-Policy forbids every script and outside request.

``configure`` puts this into an nbgrader config, as ``nbgrader_config.py`` does, so that plain
``nbgrader generate_feedback`` and the formgrader's Generate Feedback button write the same pages;
``Pages`` writes them for the class tool.
"""
from __future__ import annotations

import copy
import html
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import nh3
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbformat.notebooknode import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.preprocessors import ClearHiddenTests, GetGrades, NbGraderPreprocessor
from traitlets.config import Config

from . import deadlines, manual
from .course_dir import Course
from .slots import copy_regular

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CELL_LINE = re.compile(r"(?:Cell In\s*\[\d*\]|<ipython-input-[^>]*>|File <[^>]*>), line (\d+)")
MAX_MESSAGE = 2000
HIDDEN_NOTE = "# (hidden tests: not shown in feedback)"
TEMPLATES = Path(__file__).resolve().parent / "templates"
FORMGRADER = Path(__import__("nbgrader").__file__).resolve().parent / "server_extensions" / "formgrader"
NBGRADER_TEMPLATES = FORMGRADER / "templates"
BOOTSTRAP_CSS = FORMGRADER / "static" / "node_modules" / "bootstrap" / "dist" / "css"
EXCHANGE_FILES, MAX_SMALL = ("timestamp.txt", "submission_secret.txt"), 4096
# what a feedback page may load: its own inline styles and embedded images, nothing else
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"
TAGS = nh3.ALLOWED_TAGS - {"area", "map"}
ATTRIBUTES = {**{k: set(v) for k, v in nh3.ALLOWED_ATTRIBUTES.items()},
              "*": {"class", "id", "title", "lang", "dir"}, "a": {"href", "name", "hreflang"}}
DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/=\s]*$")


# ----------------------------------------------------------------------------- preprocessors

class HideHiddenTests(NbGraderPreprocessor):
    """Feedback preprocessor: hidden tests and their outputs out (see the module doc)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        source, hidden = _without_hidden(cell.source)
        if hidden is None:
            return cell, resources
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        test = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "this cell")
        cell.source = source
        cell.outputs = [_summary(e, test, hidden) for e in errors[:1]]
        return cell, resources


def _without_hidden(source: str) -> tuple[str, range | None]:
    """The source with its hidden block replaced, and the hidden block's line numbers (1-based)."""
    begin = ClearHiddenTests.begin_test_delimeter.default_value
    end = ClearHiddenTests.end_test_delimeter.default_value
    lines = source.splitlines()
    starts = [i for i, line in enumerate(lines) if begin in line]
    if not starts:
        return source, None
    start = starts[0]
    stop = next((i for i, line in enumerate(lines) if end in line and i > start), len(lines) - 1)
    kept = lines[:start] + [HIDDEN_NOTE] + lines[stop + 1:]
    return "\n".join(kept), range(start + 1, stop + 2)


def _summary(error, test: str, hidden: range) -> NotebookNode:
    trace = ANSI.sub("", "\n".join(error.get("traceback", [])))
    match = CELL_LINE.search(trace)
    line = int(match.group(1)) if match else None
    where = ("its hidden tests" if line in hidden else "its visible tests" if line else "this cell")
    ename, evalue = error.get("ename", "Error"), str(error.get("evalue", ""))[:MAX_MESSAGE]
    text = f"A test failed in {test} ({where}): {ename}: {evalue}"
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[text, "(the test's code is not shown in feedback)"])


class DropRubrics(NbGraderPreprocessor):
    """Feedback preprocessor: the graders' rubric cells (``manual.RUBRIC``) out."""

    def preprocess(self, nb, resources):
        nb.cells = [c for c in nb.cells if not c.get("metadata", {}).get(manual.RUBRIC)]
        return nb, resources


class FeedbackGrades(GetGrades):
    """nbgrader's ``GetGrades``, and what a student needs beside the scores: written answers
    nobody graded yet are *pending* (not 0), the points by kind, and the lateness."""

    def preprocess(self, nb, resources):
        nb, resources = super().preprocess(nb, resources)
        info = resources["nbgrader"]
        with Gradebook(self.db_url) as gb:
            sub = gb.find_submission(self.assignment_id, self.student_id)
            notebook = gb.find_submission_notebook(self.notebook_id, self.assignment_id, self.student_id)
            pending = {g.name: g.max_score for g in notebook.grades
                       if g.needs_manual_grade and g.manual_score is None}
            info.update(autograded=notebook.code_score, autograded_max=notebook.max_code_score,
                        written=notebook.written_score, written_max=notebook.max_written_score,
                        pending=sum(pending.values()),
                        lateness=_lateness(sub, deadlines.LatePolicy(config=self.config)))
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade_id") in pending and meta.get("grade"):
                meta["pending"] = True
        return nb, resources


def _lateness(sub, policy: deadlines.LatePolicy) -> str:
    """One sentence on when the work came in against its due date, or ``""``."""
    if sub.timestamp is None or sub.duedate is None:
        return ""
    due = f"{sub.duedate:%Y-%m-%d %H:%M} UTC" + (", your extension included" if sub.extension else "")
    when = f"Submitted {sub.timestamp:%Y-%m-%d %H:%M} UTC"
    if not sub.total_seconds_late:
        return f"{when}, on time (due {due})."
    return (f"{when}, {deadlines.lateness(sub.total_seconds_late)} after the due date ({due}). "
            f"Late policy: {policy.describe()}.")


# ----------------------------------------------------------------------------- the page

class SafeFeedback(HTMLExporter):
    """nbgrader's feedback page (this package's template on top of nbgrader's), sanitized:
    see the module doc. Whatever the configuration says, its template is this package's."""

    def __init__(self, config: Config | None = None, **kwargs):
        config = copy.deepcopy(config) if config is not None else Config()
        config.SafeFeedback.template_name = "safe_feedback"  # beats HTMLExporter's settings
        config.SafeFeedback.template_file = "safe_feedback.html.j2"  # extends nbgrader's index
        config.SafeFeedback.extra_template_basedirs = [str(TEMPLATES), str(NBGRADER_TEMPLATES)]
        config.SafeFeedback.extra_template_paths = [str(BOOTSTRAP_CSS)]
        super().__init__(config=config, **kwargs)

    def from_notebook_node(self, nb, resources=None, **kw):
        page, resources = super().from_notebook_node(nb, resources, **kw)
        title = resources.get("nbgrader", {}).get("notebook", "feedback")
        return sanitize(page, title), resources


def sanitize(page: str, title: str) -> str:
    """The page with a body nh3 cleaned, and a head of its style sheets alone (with a CSP)."""
    head, _, rest = page.partition("<body")
    body = rest.split(">", 1)[1].rsplit("</body>", 1)[0] if ">" in rest else ""
    styles = "\n".join(re.findall(r"<style[^>]*>.*?</style>", head, re.S | re.I))
    clean = nh3.clean(body, tags=TAGS, attributes=ATTRIBUTES, attribute_filter=_attribute,
                      url_schemes=nh3.ALLOWED_URL_SCHEMES | {"data"}, strip_comments=True)
    return (f'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8" />\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}" />\n'
            f"<title>{html.escape(title)}</title>\n{styles}\n</head>\n<body>\n{clean}\n</body>\n</html>\n")


def _attribute(tag: str, name: str, value: str) -> str | None:
    """Images only as embedded data; no ``data:`` link (it could carry a page of its own)."""
    if name == "src":
        return value if DATA_IMAGE.match(value) else None
    if name == "href" and value.strip().lower().startswith("data:"):
        return None
    return value


# ----------------------------------------------------------------------------- the graded copy

RUNS = ("application/javascript", "text/javascript", "application/vnd.jupyter.widget-view+json",
        "application/vnd.jupyter.widget-state+json")
UNSAFE_TAGS = {"script", "style", "svg", "math", "iframe", "frame", "frameset", "object", "embed",
               "applet", "form", "input", "button", "textarea", "select", "link", "meta", "base"}


class _Detector(HTMLParser):
    """Whether markup holds anything a browser would run or load."""

    def __init__(self, markup: str):
        super().__init__()
        self.found = False
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            link = (value or "").strip().lower()
            if name.startswith("on") or (name in ("href", "src", "action", "formaction", "xlink:href")
                                         and not link.startswith(("http:", "https:", "mailto:", "#"))
                                         and ":" in link.split("/")[0] and not DATA_IMAGE.match(value or "")):
                self.found = True
        self.found |= tag in UNSAFE_TAGS


def clean_fragment(markup: str) -> str:
    """An HTML fragment as the feedback page's sanitizer leaves it."""
    return nh3.clean(markup, tags=TAGS, attributes=ATTRIBUTES, attribute_filter=_attribute,
                     url_schemes=nh3.ALLOWED_URL_SCHEMES | {"data"}, strip_comments=True)


def clean_notebook(nb: NotebookNode) -> None:
    """The graded copy the formgrader shows, without what the instructor's browser would run:
    outputs that are code (JavaScript, widgets) go, HTML outputs are sanitized, and markdown or
    raw cells whose markup would run something become their sanitized HTML (others stay as
    the student wrote them)."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type in ("markdown", "raw"):
            rendered = markdown2html_mistune(cell.source) if cell.cell_type == "markdown" else cell.source
            if _Detector(rendered).found:  # one HTML block: markdown cannot make links of it again
                cell.source = "<div>\n" + re.sub(r"\n\s*\n", "\n", clean_fragment(rendered).strip()) + "\n</div>"
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            for mime in RUNS:
                data.pop(mime, None)
            if "text/markdown" in data:
                data["text/html"] = markdown2html_mistune(_text(data.pop("text/markdown")))
            if "text/html" in data:
                data["text/html"] = clean_fragment(_text(data["text/html"]))


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


# ----------------------------------------------------------------------------- configuration

def preprocessors(hide_hidden_tests: bool = True) -> list[type]:
    """The feedback steps, in order (``hide_hidden_tests=False``: nbgrader's behaviour)."""
    steps = [FeedbackGrades, DropRubrics, CSSHTMLHeaderPreprocessor]
    return steps[:1] + [HideHiddenTests] + steps[1:] if hide_hidden_tests else steps


def configure(c: Config) -> None:
    """Make nbgrader's ``generate_feedback`` (and the formgrader's button) write these pages."""
    c.GenerateFeedback.preprocessors = preprocessors()
    c.GenerateFeedback.exporter_class = SafeFeedback


class Pages:
    """The feedback pages of one assignment, written from the course's gradebook and graded
    notebooks (one exporter for the whole class), each with its exchange files beside it."""

    def __init__(self, course: Course, assignment: str, hide_hidden_tests: bool = True,
                 config: Config | None = None):
        self.course, self.assignment = course, assignment
        self.exporter = SafeFeedback(config=config or Config())
        self.exporter.default_preprocessors = []
        for step in preprocessors(hide_hidden_tests):  # as nbgrader's GenerateFeedback does
            self.exporter.register_preprocessor(step)

    def write(self, student: str) -> Path | None:
        """The student's page (``None``, and no page, when they have no graded notebook)."""
        name = f"{self.assignment}.ipynb"
        graded = self.course.autograded / student / self.assignment / name
        dest = self.course.feedback / student / self.assignment
        shutil.rmtree(dest, ignore_errors=True)
        if not graded.is_file():
            return None
        resources = {"nbgrader": {"student": student, "assignment": self.assignment,
                                  "notebook": self.assignment, "db_url": self.course.db_url}}
        page, _ = self.exporter.from_filename(str(graded), resources=resources)
        dest.mkdir(parents=True)
        (dest / f"{self.assignment}.html").write_text(page, encoding="utf-8")
        for exchange_file in EXCHANGE_FILES:  # nbgrader's release_feedback names the page by them
            copy_regular(self.course.submitted / student / self.assignment / exchange_file,
                         dest / exchange_file, MAX_SMALL)
        return dest / f"{self.assignment}.html"
