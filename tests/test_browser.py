"""Every lesson in a real browser, the way a student meets it.

JupyterLab is started by the launcher behind ``make lab`` (``python -m course.tooling.lab``) on a free
loopback port, serving a scratch copy of lessons/ (JupyterLab autosaves, and Validate saves,
so the committed lessons are never touched). Headless Debian chromium, driven by Playwright,
opens each lesson and:

1. runs all cells: the first error must be the student's ``NotImplementedError`` in the first
   exercise's test cell, with nothing broken before it; the student then carries on below
   each failing test cell, and only test cells may fail;
2. finds every widget rendered, moves each slider (or dropdown) and sees the figure change;
3. presses nbgrader's *Validate*: the untouched lesson fails exactly its graded cells; for the
   lesson with the longest cell (04) the solution notebook copied in beside it passes (that
   every solution passes its tests under nbgrader is ``test_notebooks``' round trip);
4. leaves screenshots in test-artifacts/browser/.

The server runs as on a first run without internet (no dataset mirror, empty caches, downloads
refused) and with one thread per kernel, as on Binder.

Chromium comes from the system package manager (``tools/ensure_chromium.sh``, which
``make test`` runs first); Playwright never downloads a browser. Without chromium the test
fails with the reason, or skips with it when COURSE_SKIP_BROWSER=1.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from conftest import READY, ROOT, nbgrader_meta
import course.tooling.lab
from course import lessons
from course.tooling import binder
from course.tooling.bench import one_thread_env

CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
RUN_TIMEOUT_S = 600        # one lesson's cells in the browser
VALIDATE_TIMEOUT_S = 600   # nbgrader runs the whole notebook again
# Validate passes the solution of the lesson with the longest cell (04's fitting cell outlasted
# nbgrader's default 30 s and Validate still said Success); that every solution passes its
# tests under nbgrader is test_notebooks.test_autograde_round_trip's, without a browser
SOLUTION_VALIDATED = "04_personas"
VIEWPORT = {"width": 1400, "height": 1000}


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def chromium() -> str:
    """Path to chromium, installed by tools/ensure_chromium.sh when missing."""
    if not os.access(CHROMIUM, os.X_OK):
        out = subprocess.run([str(ROOT / "tools" / "ensure_chromium.sh")], capture_output=True,
                             text=True)
        print(out.stdout, out.stderr, sep="\n")
    if not os.access(CHROMIUM, os.X_OK):
        reason = (f"chromium not found at {CHROMIUM} and tools/ensure_chromium.sh could not "
                  "install it; install Debian's 'chromium' package (or set COURSE_CHROMIUM)")
        print(f"BROWSER TEST NOT RUN: {reason}")
        if os.environ.get("COURSE_SKIP_BROWSER"):
            pytest.skip(reason)
        pytest.fail(reason)
    return CHROMIUM


class Lab:
    def __init__(self, base: str, token: str, root: Path, proc: subprocess.Popen):
        self.base, self.token, self.root, self.proc = base, token, root, proc

    def url(self, path: str) -> str:
        return f"{self.base}/{path}?token={self.token}"

    def api(self, path: str, method: str = "GET"):
        req = urllib.request.Request(f"{self.base}/api/{path}?token={self.token}",
                                     method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        for kernel in self.api("kernels"):
            self.api(f"kernels/{kernel['id']}", method="DELETE")


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Lab:
    """JupyterLab as `make lab` starts it, on a scratch copy of lessons/ plus one solution."""
    root = tmp_path_factory.mktemp("browser-course")
    for lesson_id in READY:
        if not lessons.lesson_path(lesson_id).exists():
            continue        # its test fails and says so
        shutil.copytree(ROOT / "lessons" / lesson_id, root / lesson_id,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    if (root / SOLUTION_VALIDATED).is_dir():
        shutil.copy(lessons.solution_path(SOLUTION_VALIDATED),
                    root / SOLUTION_VALIDATED / solution_name(SOLUTION_VALIDATED))
    port = str(course.tooling.lab.free_port())
    # JupyterLab keeps workspaces (open tabs) in ~/.jupyter: keep the test's out of there
    # Binder terms: one thread for NumPy/BLAS/torch in every kernel (also keeps a shared CI
    # machine from oversubscribing its cores). First-run terms: no dataset mirror, empty data
    # caches, downloads fail at once, so every lesson must explain itself and carry on.
    empty = tmp_path_factory.mktemp("no-data-cache")
    env = binder.offline_env(one_thread_env(), empty)
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(root.parent / f"{root.name}-workspaces")
    env.pop("MPLBACKEND", None)
    proc = subprocess.Popen([sys.executable, "-m", "course.tooling.lab", "--port", port, "--dir", str(root)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env=env)
    lines: list[str] = []
    match = None
    deadline = time.monotonic() + 180
    while match is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"(http://127\.0\.0\.1:\d+)/lab\?token=(\w+)", line)
    if match is None:
        proc.kill()
        pytest.fail("`python -m course.tooling.lab` printed no URL:\n" + "".join(lines[-40:]))
    # keep draining the server's output (kept for failures) so it never blocks on a full pipe
    log = root.parent / f"{root.name}-server.log"
    drain = threading.Thread(target=lambda: shutil.copyfileobj(proc.stdout, log.open("w")),
                             daemon=True)
    drain.start()
    yield Lab(match.group(1), match.group(2), root, proc)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    drain.join(timeout=10)


@pytest.fixture(scope="session")
def browser(chromium, playwright, tmp_path_factory):
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium-profile")), executable_path=chromium,
        headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT)
    yield context
    context.close()


def solution_name(lesson_id: str) -> str:
    return f"{lesson_id}.solution.ipynb"


# ----------------------------------------------------------------------------- page helpers

def open_notebook(browser, lab: Lab, rel: str):
    page = browser.new_page()
    # ?reset: a clean workspace, no tabs restored from an earlier page
    page.goto(f"{lab.base}/lab/tree/{rel}?reset&token={lab.token}")
    try:
        page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell",
                               timeout=120_000)
    except Exception:
        shot(page, Path(rel).stem + "-FAILED-to-open")
        raise
    wait_idle(page, 120)
    return page


def kernel_status(page) -> str | None:
    return page.evaluate("""() => {
        const el = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
        return el ? el.getAttribute('data-status') : null; }""")


def busy_prompts(page) -> int:
    return page.evaluate("""() => [...document.querySelectorAll('.jp-Notebook .jp-InputPrompt')]
        .filter(p => p.textContent.includes('*')).length""")


def wait_idle(page, timeout_s: float) -> None:
    """Until the kernel is idle with no cell running or queued, for a second in a row."""
    deadline = time.monotonic() + timeout_s
    calm_since = None
    while time.monotonic() < deadline:
        calm = kernel_status(page) == "idle" and busy_prompts(page) == 0
        if calm:
            calm_since = calm_since or time.monotonic()
            if time.monotonic() - calm_since > 1.5:
                return
        else:
            calm_since = None
        page.wait_for_timeout(250)
    pytest.fail(f"the kernel was still busy after {timeout_s:.0f} s "
                f"(status {kernel_status(page)!r}, {busy_prompts(page)} cells running)")


def menu(page, top: str, item: str) -> None:
    """Click a main-menu entry, e.g. menu(page, 'Run', 'Run All Cells')."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).first.click()


def cell_locator(page):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")


def save(page, path: Path) -> nbformat.NotebookNode:
    """File > Save Notebook, then read what the browser wrote."""
    before = path.stat().st_mtime_ns
    menu(page, "File", "Save Notebook")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and path.stat().st_mtime_ns == before:
        page.wait_for_timeout(200)
    assert path.stat().st_mtime_ns != before, f"saving {path.name} from the browser wrote nothing"
    page.wait_for_timeout(500)
    return nbformat.read(str(path), as_version=4)


def error_of(cell) -> dict | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return out
    return None


def is_test_cell(cell) -> bool:
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_exercise(cell) -> bool:
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("solution"))


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


# ----------------------------------------------------------------------------- steps

def run_like_a_student(page, lab: Lab, lesson_id: str) -> nbformat.NotebookNode:
    """Run All; after each failing test cell, run everything below it; save; return the file."""
    path = lab.root / lesson_id / f"{lesson_id}.ipynb"
    source = nbformat.read(str(path), as_version=4)
    cells = cell_locator(page)
    # JupyterLab attaches cells to the page as it finds time: wait for all of them
    deadline = time.monotonic() + 120
    while cells.count() < len(source.cells) and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert cells.count() == len(source.cells), (
        f"the browser shows {cells.count()} cells after 120 s, the file has {len(source.cells)}")
    menu(page, "Run", "Run All Cells")
    wait_idle(page, RUN_TIMEOUT_S)

    nb = save(page, path)
    errors = [i for i, c in enumerate(nb.cells) if error_of(c)]
    assert errors, f"{lesson_id}: Run All Cells ended without the first exercise's error"
    first = errors[0]
    exercise = next((i for i, c in enumerate(nb.cells) if is_exercise(c)), None)
    first_test = next((i for i, c in enumerate(nb.cells) if is_test_cell(c)), None)
    assert exercise is not None and first_test is not None, (
        f"{lesson_id}: no exercise cell or no test cell in the lesson")
    err = error_of(nb.cells[first])
    assert first == first_test and err["ename"] == "NotImplementedError", (
        f"{lesson_id}: the first error is {err['ename']}: {err['evalue']} in cell {first} "
        f"({nb.cells[first].source[:60]!r}); expected the stub's NotImplementedError in the "
        f"first exercise's test cell (cell {first_test})")
    not_run = [i for i, c in enumerate(nb.cells[:first])
               if c.cell_type == "code" and c.source.strip() and c.get("execution_count") is None]
    assert not not_run, f"{lesson_id}: cells before the first exercise did not run: {not_run}"
    cells.nth(first).scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    shot(page, f"{lesson_id}-first-exercise")
    shown = cells.nth(first).locator(".jp-OutputArea-output").all_text_contents()
    assert any("NotImplementedError" in text for text in shown), (
        f"{lesson_id}: the browser does not show NotImplementedError under the first test "
        f"cell; it shows {shown!r}")

    # a student carries on: run everything below each failing test cell
    last = first
    for _ in range(len(nb.cells)):
        if last + 1 >= len(nb.cells):
            break
        cells.nth(last + 1).locator(".jp-InputPrompt, .jp-Cell-inputWrapper").first.click(
            position={"x": 5, "y": 5})
        menu(page, "Run", "Run Selected Cell and All Below")
        wait_idle(page, RUN_TIMEOUT_S)
        nb = save(page, path)
        later = [i for i, c in enumerate(nb.cells) if error_of(c) and i > last]
        if not later:
            break
        last = later[0]

    broken = [(i, error_of(c)["ename"], c.source[:60]) for i, c in enumerate(nb.cells)
              if error_of(c) and not is_test_cell(c)]
    assert not broken, f"{lesson_id}: cells other than tests fail in the browser: {broken}"
    wrong = [(i, error_of(c)["ename"]) for i, c in enumerate(nb.cells)
             if error_of(c) and error_of(c)["ename"] != "NotImplementedError"]
    assert not wrong, f"{lesson_id}: test cells fail with other errors than the stub's: {wrong}"
    not_run = [i for i, c in enumerate(nb.cells)
               if c.cell_type == "code" and c.source.strip() and c.get("execution_count") is None]
    assert not not_run, f"{lesson_id}: code cells never ran in the browser: {not_run}"
    return nb


def figure_src(widget) -> str:
    imgs = widget.locator("img")
    return (imgs.first.get_attribute("src") or "") if imgs.count() else ""


def wait_for_new_figure(page, widget, before: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        src = figure_src(widget)
        if src and src != before:
            return True
        page.wait_for_timeout(250)
    return False


def nudge(page, widget, before: str) -> tuple[str, bool]:
    """Move the widget's first control as a student would; did the figure change?"""
    slider = widget.locator(".widget-slider .noUi-handle")
    if slider.count():
        handle = slider.first
        handle.scroll_into_view_if_needed()
        handle.focus()
        now, top = (handle.get_attribute(a) for a in ("aria-valuenow", "aria-valuemax"))
        at_max = now is not None and top is not None and float(now) >= float(top)
        page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
        return "slider", wait_for_new_figure(page, widget, before, 90)
    select = widget.locator("select")
    if select.count():
        current = select.first.input_value()
        values = select.first.locator("option").evaluate_all("os => os.map(o => o.value)")
        select.first.select_option(value=next(v for v in values if v != current))
        return "dropdown", wait_for_new_figure(page, widget, before, 90)
    checkbox = widget.locator("input[type=checkbox]")
    if checkbox.count():
        checkbox.first.click()
        return "checkbox", wait_for_new_figure(page, widget, before, 90)
    pytest.fail("an interactive widget has no slider, dropdown or checkbox to move")


WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
PROGRESS_BAR = re.compile(r"\d+%\|.*\|\s*\d+/\d+")


def check_widgets(page, lesson_id: str, nb) -> int:
    """Every widget output renders; every interactive figure redraws when its control moves."""
    # tqdm's progress bars are widgets too; the course's close themselves (leave=False)
    views = sum(1 for c in nb.cells for o in c.get("outputs", []) if WIDGET_MIME in o.get("data", {})
                and not PROGRESS_BAR.search(o["data"].get("text/plain", "")))
    interactive_cells = [i for i, c in enumerate(nb.cells)
                         if any(WIDGET_MIME in o.get("data", {}) for o in c.get("outputs", []))
                         and re.search(r"slider_figure\(|interactive\(|interact\(", c.source)]
    # a rendered widget view is a .jupyter-widgets element straight inside an output
    outputs = page.locator(".jp-OutputArea-output:has(> .jupyter-widgets)")
    deadline = time.monotonic() + 60   # widget views render a moment after their output
    while outputs.count() < views and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert outputs.count() >= views, (
        f"{lesson_id}: the notebook holds {views} widget outputs (besides progress bars), the "
        f"browser rendered {outputs.count()}")
    broken = [t[:120] for t in page.locator(".jp-OutputArea-output").all_text_contents()
              if re.search(r"Error displaying widget|Error rendering|model not found", t)]
    assert not broken, f"{lesson_id}: widgets that failed to render in the browser: {broken}"
    interacts = page.locator(".jp-OutputArea-output .widget-interact")
    assert interacts.count() == len(interactive_cells), (
        f"{lesson_id}: cells {interactive_cells} display interactive figures, the browser "
        f"rendered {interacts.count()}")
    for k in range(interacts.count()):
        widget = interacts.nth(k)
        widget.scroll_into_view_if_needed()
        deadline = time.monotonic() + 60
        while not figure_src(widget) and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        before = figure_src(widget)
        assert before, f"{lesson_id}: interactive widget {k} shows no figure"
        moved, changed = nudge(page, widget, before)
        assert changed, (
            f"{lesson_id}: moving the {moved} of interactive widget {k} did not change its figure")
        widget.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        shot(page, f"{lesson_id}-widget{k}")
    return interacts.count()


def validate(page, lesson_id: str, label: str) -> tuple[str, list[str], str]:
    """Press Validate; return the result class, the failed cells' text and the dialog text."""
    button = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .validate-button").first
    assert button.count() or button.is_visible(), (
        f"{lesson_id}: nbgrader's Validate button is not in the notebook toolbar")
    button.click()
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    dialog.wait_for(timeout=VALIDATE_TIMEOUT_S * 1000)
    page.wait_for_timeout(300)
    shot(page, f"{lesson_id}-validate-{label}")
    kind = next((k for k in ("validation-success", "validation-failed", "validation-changed",
                             "validation-passed")
                 if dialog.locator(f".{k}").count()), "error")
    failed = dialog.locator(".validation-failed .jp-RenderedText pre").all_inner_texts()
    text = dialog.locator(".jp-Dialog-body").inner_text()
    (ARTIFACTS / f"{lesson_id}-validate-{label}.txt").write_text(f"{kind}\n{text}")
    dialog.locator("button", has_text="Ok").first.click()
    return kind, failed, text


# ----------------------------------------------------------------------------- the test

@pytest.mark.parametrize("lesson_id", READY)
def test_lesson_in_the_browser(lesson_id, lab, browser):
    for old in ARTIFACTS.glob(f"{lesson_id}-*"):
        old.unlink()                      # this run's screenshots only
    assert (lab.root / lesson_id).is_dir(), (
        f"lessons/{lesson_id} does not exist although solutions/{lesson_id} does: run `make lessons`")
    times: dict[str, float] = {}
    clock = [time.monotonic()]

    def lap(step: str) -> None:
        now = time.monotonic()
        times[step] = round(now - clock[0], 1)
        clock[0] = now

    page = open_notebook(browser, lab, f"{lesson_id}/{lesson_id}.ipynb")
    try:
        lap("open")
        news = page.locator(".jp-toast-container", has_text=re.compile("news", re.I)).count()
        assert news == 0, "JupyterLab asks about news: the course's jupyter/ settings are not applied"
        nb = run_like_a_student(page, lab, lesson_id)
        lap("run all cells")
        n_interactive = check_widgets(page, lesson_id, nb)
        lap(f"move {n_interactive} widgets")

        # Validate the untouched lesson: exactly its graded cells fail
        kind, failed, text = validate(page, lesson_id, "release")
        lap("validate lesson")
        graded = [c for c in nb.cells if nbgrader_meta(c).get("grade")]
        assert kind == "validation-failed", (
            f"{lesson_id}: Validate on the untouched lesson says {kind}: {text[:500]}")
        n_failed = text.count("The following cell failed:")
        assert n_failed == len(graded), (
            f"{lesson_id}: Validate lists {n_failed} failing cells, the lesson has "
            f"{len(graded)} graded cells: {text[:800]}")
        tests = [c for c in nb.cells if is_test_cell(c)]
        for cell in tests:
            assert any(cell.source.strip()[:40] in shown for shown in failed), (
                f"{lesson_id}: Validate does not list the test cell {cell.source[:40]!r}")
        stubs = sum("NotImplementedError" in shown for shown in failed)
        assert stubs == len(tests), (
            f"{lesson_id}: Validate shows the stub's NotImplementedError {stubs} times for "
            f"{len(tests)} test cells")
    finally:
        page.close()
        lab.shutdown_kernels()

    if lesson_id == SOLUTION_VALIDATED:   # Validate the solution notebook copied in: it passes
        page = open_notebook(browser, lab, f"{lesson_id}/{solution_name(lesson_id)}")
        try:
            kind, failed, text = validate(page, lesson_id, "solution")
            lap("validate solution")
            assert kind == "validation-success" and "passes all the tests" in text, (
                f"{lesson_id}: Validate on the solution says {kind}: {text[:800]}")
        finally:
            page.close()
            lab.shutdown_kernels()
    print(f"\n{lesson_id} in the browser, seconds per step: {times} "
          f"(total {sum(times.values()):.0f} s); screenshots in {ARTIFACTS}")


def test_news_and_update_prompts_are_off(lab, browser):
    """The course's jupyter/ settings reach the server that `make lab` starts."""
    with urllib.request.urlopen(lab.url("lab"), timeout=30) as r:
        html = r.read().decode()
    match = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                      html, re.S)
    assert match, "JupyterLab's page carries no jupyter-config-data"
    page_config = json.loads(match.group(1))
    assert page_config.get("news", {}).get("disabled") is True, (
        f"JupyterLab's news feed is on: page config news={page_config.get('news')}")
    with urllib.request.urlopen(lab.url(
            "lab/api/settings/@jupyterlab/apputils-extension:notification"), timeout=30) as r:
        # overrides become the schema's defaults
        props = json.load(r)["schema"]["properties"]
    defaults = {k: props[k].get("default") for k in ("fetchNews", "checkForUpdates")}
    assert defaults == {"fetchNews": "false", "checkForUpdates": False}, (
        f"the notification settings still fetch news or check for updates: {defaults}")
    page = browser.new_page()
    try:
        page.goto(f"{lab.base}/lab?reset&token={lab.token}")
        page.wait_for_selector(".jp-LabShell", timeout=120_000)
        page.wait_for_timeout(5000)       # the news question shows a few seconds after start
        toasts = page.locator(".Toastify__toast").all_inner_texts()
        assert not [t for t in toasts if re.search(r"news|update", t, re.I)], (
            f"JupyterLab pops up: {toasts}")
    finally:
        page.close()
