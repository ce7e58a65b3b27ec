"""Students' HTML feedback that names a failed hidden test and its message, never its code.

nbgrader's feedback shows each test cell as it ran, hidden tests included, and tracebacks
quote their lines (nbgrader issue #1363). ``HideHiddenTests`` (on by default) replaces the
hidden part of each test cell with one comment and, in those cells, keeps only a summary of
the error: which test cell failed, whether in its visible or hidden part, and the message.
Printed output of those cells is dropped too: a submission's own functions could print the
hidden test's code or inputs from inside the test.
"""
from __future__ import annotations

import re

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CELL_LINE = re.compile(r"(?:Cell In\s*\[\d*\]|<ipython-input-[^>]*>|File <[^>]*>), line (\d+)")
MAX_MESSAGE = 2000
HIDDEN_NOTE = "# (hidden tests: not shown in feedback)"


class HideHiddenTests(NbGraderPreprocessor):
    """Feedback preprocessor: see the module doc."""

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
