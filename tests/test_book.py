"""The course as a website (issue 25): built, then read in headless Chromium, offline.

The site is built by ``course.tooling.book`` from the notebooks the one-kernel run already
executed (``one_kernel`` in conftest.py: every solution top to bottom in one kernel), so these
tests join that xdist group and add only Sphinx and the browser to ``make test``. A local
``http.server`` serves it; the browser may fetch nothing from anywhere else.

Checked: every page renders, with its figures (no broken image, one image per figure the
notebook drew, each with alternative text) and its equations typeset (no raw ``$$``); the
launch and download buttons;
next/previous links in syllabus order; search finds lesson 05; the solution and answer-note
toggles open; no hidden test's text is anywhere in the site (pages, search index, downloads);
every link resolves. Accessibility basics: every figure has alternative text (from its cell's
metadata), headings go in order, the theme's text meets WCAG AA contrast, and course.plots'
palette survives colour blindness (that last one runs without the site, in ``make check``).
Screenshots in test-artifacts/book/.
"""
from __future__ import annotations

import functools
import html
import http.server
import itertools
import json
import re
import threading
import time
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import numpy as np
import pytest

from conftest import READY, ROOT, nbgrader_meta
from course import lessons
from course.tooling import book
from test_browser import CHROMIUM_ARGS, chromium  # noqa: F401 (a fixture)

ARTIFACTS = ROOT / "test-artifacts" / "book"
DESKTOP = {"width": 1400, "height": 1000}
PHONE = {"width": 390, "height": 844}
#: a term of lesson 05 that search must find there
SEARCH_TERM = "Poisson"
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def site(one_kernel, tmp_path_factory) -> Path:
    """The site built from the one-kernel run's executed notebooks; its html folder."""
    failed = {i: row.get("error") for i, row in one_kernel.items() if not row["ok"]}
    assert not failed, f"lessons that did not run, so the book cannot be built: {failed}"
    start = time.perf_counter()
    index = book.build({i: row["notebook"] for i, row in one_kernel.items()},
                       tmp_path_factory.mktemp("book"))
    print(f"\nbook built from {len(one_kernel)} executed lessons in "
          f"{time.perf_counter() - start:.1f} s: {index}")
    return index.parent


@pytest.fixture(scope="module")
def pages(site) -> dict[str, nbformat.NotebookNode]:
    """Each lesson's page notebook, as the build wrote it."""
    return {i: nbformat.read(str(site.parent / "src" / "lessons" / i / f"{i}.ipynb"), as_version=4)
            for i in READY}


@pytest.fixture(scope="module")
def server(site):
    """The site on a free loopback port, as ``python -m http.server`` serves it."""
    handler = functools.partial(Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    thread.join(timeout=10)


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class Reader:
    """A browser tab on the site that records what must not happen: a request off the
    machine, a failed response, a script error."""

    def __init__(self, browser, base: str, viewport: dict):
        self.base, self.outside, self.failed, self.errors = base, [], [], []
        self.context = browser.new_context(viewport=viewport)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("response", self._response)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _response(self, response) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.url}")

    def _route(self, route) -> None:
        if route.request.url.startswith(self.base):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def open(self, path: str):
        self.page.goto(f"{self.base}/{path}")
        self.page.wait_for_load_state("load")
        # MathJax typesets after load; its promise settles when every equation is done
        self.page.wait_for_function("() => !window.MathJax || (window.MathJax.startup"
                                    " && window.MathJax.startup.promise)", timeout=30_000)
        self.page.evaluate("() => window.MathJax ? window.MathJax.startup.promise : null")
        return self.page

    def clean(self, where: str) -> None:
        assert not self.outside, f"{where}: the site asks for files off the machine: {self.outside[:5]}"
        assert not self.failed, f"{where}: requests that failed: {self.failed[:5]}"
        assert not self.errors, f"{where}: script errors: {self.errors[:5]}"

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def browser(chromium, playwright):  # noqa: F811 (chromium is a fixture)
    browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def reader(browser, server):
    tab = Reader(browser, server, DESKTOP)
    yield tab
    tab.close()


def shot(page, name: str, full: bool = False) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    return path


def page_url(lesson_id: str) -> str:
    return f"lessons/{lesson_id}/{lesson_id}.html"


# ----------------------------------------------------------------------------- in the page

#: per page: images with their load state and alt text, headings, math left raw, buttons
PAGE_FACTS = r"""async () => {
  const article = document.querySelector('article') || document.body;
  const imgs = [...article.querySelectorAll('img')];
  const loaded = await Promise.all(imgs.map(i => { i.loading = 'eager';
      return i.decode().then(() => i.naturalWidth, () => 0); }));
  const text = [...article.querySelectorAll('p, li, td, th, h1, h2, h3, h4, h5, h6, div.math, span.math')]
      .filter(e => !e.closest('pre, code, .highlight')).map(e => e.innerText).join('\n');
  const math = [...article.querySelectorAll('span.math, div.math')];
  const link = sel => { const a = document.querySelector(sel); return a ? a.getAttribute('href') : null; };
  return {
    images: imgs.map((i, k) => ({src: i.getAttribute('src'), alt: i.getAttribute('alt'), width: loaded[k]})),
    headings: [...article.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(h => [+h.tagName[1], h.innerText.trim()]),
    raw_math: (text.match(/\$\$|\\\(|\\\)|\\\[|\\\]|\\frac|\\sum/g) || []).length,
    math: math.length, typeset: math.filter(m => m.querySelector('mjx-container')).length,
    binder: [...document.querySelectorAll('.course-launch a')].filter(a => a.href.includes('mybinder.org')).map(a => a.href),
    download: [...document.querySelectorAll('.course-launch a.download')].map(a => a.getAttribute('href')),
    prev: link('.prev-next-area a.left-prev'), next: link('.prev-next-area a.right-next'),
  };
}"""

#: text whose colour against its background misses WCAG AA (4.5:1; 3:1 for large text)
LOW_CONTRAST = r"""() => {
  const lum = rgb => { const c = rgb.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                       return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; };
  const parse = s => { const m = s.match(/rgba?\(([^)]+)\)/); if (!m) return null;
                       const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
                       return {rgb: p.slice(0, 3), a: p.length > 3 ? p[3] : 1}; };
  const background = el => { for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor); if (c && c.a > 0.5) return c.rgb; }
      return [255, 255, 255]; };
  const low = [];
  for (const el of document.querySelectorAll('body *')) {
    if (!el.getClientRects().length || el.closest('mjx-container, svg, [aria-hidden="true"]')) continue;
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || +st.opacity === 0) continue;
    const fg = lum(parse(st.color).rgb), bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const size = parseFloat(st.fontSize), large = size >= 24 || (+st.fontWeight >= 700 && size >= 18.66);
    if (ratio < (large ? 3 : 4.5))
      low.push(`${el.tagName.toLowerCase()}.${el.className} "${el.textContent.trim().slice(0, 30)}" ${st.color} ratio ${ratio.toFixed(2)}`);
  }
  return low;
}"""


def figure_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"
            and any(m in out.get("data", {}) for out in c.get("outputs", []) for m in IMAGE_MIMES)]


def n_images(nb) -> int:
    return sum(1 for c in nb.cells if c.cell_type == "code" for out in c.get("outputs", [])
               if any(m in out.get("data", {}) for m in IMAGE_MIMES))


def alt_text(cell) -> str:
    return str(cell.metadata.get("mystnb", {}).get("image", {}).get("alt", "")).strip()


def check_headings(where: str, headings: list) -> None:
    levels = [level for level, _ in headings]
    assert levels and levels[0] == 1 and levels.count(1) == 1, (
        f"{where}: a page needs one h1, first; it has {headings[:3]}")
    skips = [(a, b) for a, b in zip(headings, headings[1:]) if b[0] > a[0] + 1]
    assert not skips, f"{where}: headings skip a level (after, then): {skips}"


# ----------------------------------------------------------------------------- the tests

def test_every_page_renders_with_its_figures_equations_and_buttons(site, pages, reader):
    text = book.readme()
    page = reader.open("index.html")
    facts = page.evaluate(PAGE_FACTS)
    check_headings("the landing page", facts["headings"])
    assert facts["binder"] == [book.binder_url("00_orientation", text)], (
        f"the landing page's Binder button: {facts['binder']}")
    rows = page.locator("article table a[href*='lessons/']")
    assert rows.count() == len(READY), (
        f"the syllabus links {rows.count()} lessons, {len(READY)} are ready")
    shot(page, "index-desktop")
    reader.clean("the landing page")

    order = ["index.html", *[page_url(i) for i in READY]]
    for k, lesson_id in enumerate(READY):
        where = f"lesson {lesson_id}"
        page = reader.open(page_url(lesson_id))
        facts = page.evaluate(PAGE_FACTS)
        nb = pages[lesson_id]
        broken = [i["src"] for i in facts["images"] if not i["width"]]
        assert not broken, f"{where}: images that do not load: {broken}"
        bare = [i["src"] for i in facts["images"]
                if not (i["alt"] or "").strip() or re.search(r"\.(png|jpe?g|svg)$|_images/", i["alt"])]
        assert not bare, f"{where}: images whose alternative text is empty or a file name: {bare}"
        figures = [i for i in facts["images"] if "_images/" in (i["src"] or "")]
        assert len(figures) == n_images(nb), (
            f"{where}: the notebook drew {n_images(nb)} figures, the page shows {len(figures)}")
        assert facts["raw_math"] == 0 and facts["typeset"] == facts["math"], (
            f"{where}: equations left raw: {facts['raw_math']} TeX delimiters in the text, "
            f"{facts['typeset']} of {facts['math']} equations typeset by MathJax")
        check_headings(where, facts["headings"])
        assert facts["binder"] == [book.binder_url(lesson_id, text)], (
            f"{where}: the Binder button goes to {facts['binder']}")
        assert len(facts["download"]) == 1, f"{where}: download buttons: {facts['download']}"
        served = site / "lessons" / lesson_id / urllib.parse.unquote(facts["download"][0])
        assert served.resolve().read_bytes() == lessons.lesson_path(lesson_id).read_bytes(), (
            f"{where}: the download is not lessons/{lesson_id}/{lesson_id}.ipynb")
        here = order.index(page_url(lesson_id))
        want_prev = Path(order[here - 1]).name
        want_next = Path(order[here + 1]).name if here + 1 < len(order) else None
        assert Path(facts["prev"] or "").name == want_prev and (
            Path(facts["next"]).name if facts["next"] else None) == want_next, (
            f"{where}: previous/next go to {facts['prev']}/{facts['next']}, "
            f"expected {want_prev}/{want_next}")
        shot(page, f"{lesson_id}-desktop")
        reader.clean(where)
        print(f"{lesson_id}: {len(figures)} figures, {facts['math']} equations, "
              f"{len(facts['headings'])} headings")


def test_phone_width(browser, server):
    """The landing page and lesson 02 on a phone: the page does not scroll sideways (wide
    code and tables scroll in their own boxes)."""
    tab = Reader(browser, server, PHONE)
    try:
        for path, name in (("index.html", "index"), (page_url("02_near_miss"), "02_near_miss")):
            page = tab.open(path)
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= PHONE["width"], (
                f"{path} is {width} px wide on a {PHONE['width']} px phone: it scrolls sideways")
            shot(page, f"{name}-phone")
            tab.clean(f"{path} at phone width")
    finally:
        tab.close()


def test_search_finds_lesson_05(reader):
    source = lessons.solution_path("05_social").read_text(encoding="utf-8")
    assert SEARCH_TERM in source, f"lesson 05 no longer says {SEARCH_TERM!r}: pick another term"
    page = reader.open("index.html")
    page.locator(".search-button-field").first.click()
    box = page.locator("input[name=q]:visible").first
    box.fill(SEARCH_TERM)
    box.press("Enter")
    page.wait_for_url(re.compile(r"search\.html\?q="))
    results = page.locator("#search-results a[href*='05_social']")
    results.first.wait_for(timeout=30_000)
    shot(page, "search")
    reader.clean("the search page")


def test_solution_and_answer_notes_toggle_open(pages, reader):
    for lesson_id, nb in pages.items():
        solutions = sum(1 for c in nb.cells if c.cell_type == "code" and nbgrader_meta(c).get("solution"))
        assert solutions, f"{lesson_id}: no exercise solution on the page"
    page = reader.open(page_url("02_near_miss"))
    toggles = page.locator("details", has=page.locator("summary", has_text="Show solution"))
    n_solutions = sum(1 for c in pages["02_near_miss"].cells
                      if c.cell_type == "code" and nbgrader_meta(c).get("solution"))
    assert toggles.count() == n_solutions, (
        f"02_near_miss: {toggles.count()} 'Show solution' toggles for {n_solutions} solutions")
    first = toggles.first
    code = first.locator("pre")
    assert not code.is_visible(), "the solution shows before its toggle is opened"
    first.locator("summary").click()
    code.wait_for(state="visible", timeout=5_000)
    assert "def rank_substitutes" in code.inner_text(), f"the toggle opened {code.inner_text()[:80]!r}"
    shot_at(page, first, "02_near_miss-solution-open")
    notes = page.locator(".dropdown", has_text="Show the answer notes").first
    body = notes.locator("p").nth(1)
    assert not body.is_visible(), "answer notes show before their toggle is opened"
    notes.locator(".toggle-button, .admonition-title").first.click()
    body.wait_for(state="visible", timeout=5_000)
    shot_at(page, notes, "02_near_miss-notes-open")
    reader.clean("lesson 02's toggles")


def shot_at(page, locator, name: str) -> None:
    locator.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    shot(page, name)


def test_the_course_summary_of_lesson_07(reader):
    page = reader.open(page_url("07_capstone"))
    tables = page.locator("article table")
    heads = [tables.nth(k).locator("th").all_inner_texts() for k in range(tables.count())]
    summary = [h for h in heads if len(h) >= 3 and any("lesson" in t.lower() for t in h)]
    assert summary, f"lesson 07 shows no course summary table; its tables' headers: {heads}"
    rows = page.locator("article table", has_text="05_social").locator("tbody tr")
    assert rows.count() >= len(READY) - 1, (
        f"lesson 07's summary table has {rows.count()} rows for {len(READY)} lessons")
    reader.clean("lesson 07")


# ----------------------------------------------------------------------------- no hidden test

#: written here, not taken from course.tooling.book, so that the check does not share a bug
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", re.S)


def hidden_blocks(nb) -> list[str]:
    return [m.group(0) for c in nb.cells if c.cell_type == "code" for m in HIDDEN.finditer(c.source)]


def is_test_cell(cell) -> bool:
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def notebook_text(nb, shown: bool = False) -> str:
    """Every source and text output of a notebook; ``shown``: only what a page may show of
    an executed solution (no hidden test, no output of a test cell)."""
    parts = []
    for c in nb.cells:
        if shown and is_test_cell(c):
            parts.append(HIDDEN.sub("", c.source))
            continue
        parts.append(c.source)
        for out in c.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.extend(v for v in out.get("data", {}).values() if isinstance(v, str)
                         and not v.startswith("iVBOR"))
    return "\n".join(parts)


class Text(HTMLParser):
    """A page's text and attribute values, as a reader or a crawler sees them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.data: list[str] = []
        self.attrs: list[str] = []

    def handle_data(self, data: str) -> None:
        self.data.append(data)

    def handle_starttag(self, tag, attrs) -> None:
        self.attrs.extend(v for _, v in attrs if v)

    def text(self) -> str:
        """The text run together (highlighted code is one span per token), then spaced out
        (so that no two words of separate elements fuse), then the attributes."""
        return "\n".join(["".join(self.data), " ".join(self.data), *self.attrs])


def site_texts(site: Path) -> dict[str, str]:
    """Every text file of the site, HTML as its text, notebooks as their sources."""
    texts = {}
    for path in site.rglob("*"):
        if not path.is_file() or path.suffix in {".png", ".jpg", ".woff", ".woff2", ".ttf", ".eot",
                                                 ".ico", ".gif", ".inv"}:
            continue
        raw = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".html":
            parser = Text()
            parser.feed(raw)
            raw = parser.text()
        elif path.suffix == ".ipynb":
            raw = notebook_text(nbformat.reads(raw, as_version=4))
        texts[str(path.relative_to(site))] = html.unescape(raw)
    return texts


def search_terms(site: Path) -> set[str]:
    raw = (site / "searchindex.js").read_text(encoding="utf-8")
    index = json.loads(raw[raw.index("(") + 1:raw.rindex(")")])
    return set(index["terms"]) | set(index["titleterms"])


@functools.cache
def stemmer():
    from sphinx.search.en import SearchEnglish

    return SearchEnglish({})


def stems(text: str) -> set[str]:
    """The words of ``text`` as Sphinx's English search index keeps them."""
    lang = stemmer()
    return {lang.stem(w) for w in {w.lower() for w in lang.split(text)}}


def visible_text(executed: dict) -> str:
    """What the site may show: the README, the executed solutions as ``notebook_text(shown=
    True)`` has them, the student notebooks. Made without course.tooling.book."""
    return "\n".join([book.readme(), *(notebook_text(nb, shown=True) for nb in executed.values()),
                      *(notebook_text(nbformat.read(str(lessons.lesson_path(i)), as_version=4))
                        for i in executed)])


def fingerprints(executed: dict) -> tuple[dict[str, list[str]], dict[str, set[str]]]:
    """Per lesson, what only its hidden tests say: whole lines (20+ characters) and
    identifiers (6+ characters) found nowhere in what the site may show."""
    seen = visible_text(executed)
    known = set(re.findall(r"\w+", seen))
    lines, words = {}, {}
    for lesson_id in READY:
        hidden = "\n".join(hidden_blocks(nbformat.read(str(lessons.solution_path(lesson_id)),
                                                       as_version=4)))
        lines[lesson_id] = sorted({ln.strip() for ln in hidden.splitlines()
                                   if len(ln.strip()) >= 20 and "HIDDEN TESTS" not in ln
                                   and ln.strip() not in seen})
        words[lesson_id] = {w for w in re.findall(r"[A-Za-z_]\w{5,}", hidden) if w not in known}
    return lines, words


def test_no_hidden_test_text_anywhere_in_the_site(site, pages, one_kernel):
    executed = {i: row["notebook"] for i, row in one_kernel.items()}
    lines, words = fingerprints(executed)
    empty = [i for i in READY if not lines[i] or not words[i]]
    assert not empty, f"lessons whose hidden tests leave nothing to look for: {empty}"
    texts = site_texts(site)
    # made from the lessons: pages, downloads, the search index; copied from the theme's
    # packages: _static (scripts, styles, MathJax), scanned line by line
    content = {name: t for name, t in texts.items() if not name.startswith("_static")}
    assets = {name: t for name, t in texts.items() if name.startswith("_static")}
    # the scan sees code as rendered: the visible parts of test cells are found
    visible = [ln.strip() for c in pages["02_near_miss"].cells if is_test_cell(c)
               for ln in c.source.splitlines() if len(ln.strip()) >= 20]
    page_02 = content[page_url("02_near_miss")]
    assert visible and all(ln in page_02 for ln in visible), (
        "the scan does not find the visible test lines of lesson 02 on its page: it would "
        "miss hidden ones too")
    hidden_lines = set().union(*lines.values())
    leaks = {f"{name}: {ln}" for name, text in content.items() for ln in hidden_lines if ln in text}
    leaks |= {f"{name}: {ln}" for name, text in assets.items()
              for ln in hidden_lines & {row.strip() for row in text.splitlines()}}
    assert not leaks, f"hidden-test lines in the site: {sorted(leaks)[:5]}"
    # nor a word only hidden tests use (beyond those the theme's own pages and files use),
    # in the pages and downloads or, stemmed as Sphinx stems them, in the search index
    theme = "\n".join([*assets.values(), content["search.html"], content["genindex.html"]])
    hidden_words = set().union(*words.values()) - set(re.findall(r"\w+", theme))
    found = set(re.findall(r"\w+", "\n".join(content.values())))
    assert not hidden_words & found, (
        f"identifiers only hidden tests use, in the site: {sorted(hidden_words & found)[:10]}")
    hidden_stems = stems(" ".join(hidden_words)) - stems(visible_text(executed))
    indexed = hidden_stems & search_terms(site)
    assert hidden_stems and not indexed, (
        f"the search index holds words only hidden tests use: {sorted(indexed)[:10]}")


# ----------------------------------------------------------------------------- links

class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key) and not (tag == "link" and attrs.get("rel") in ("preconnect", "dns-prefetch")):
                self.urls.append(attrs[key])


def test_every_link_resolves(site):
    """Links inside the site reach a file (and an anchor there); links to the repository
    name files it has; Binder links open a lesson that exists."""
    parsed = {}
    # the site's pages (the theme leaves template fragments in _static: not pages)
    for path in (p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts):
        links = Links()
        links.feed(path.read_text(encoding="utf-8"))
        parsed[path] = links
    repo = book.repository_url(book.readme())
    broken, outside = [], set()
    for path, links in parsed.items():
        for url in links.urls:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme in ("http", "https"):
                outside.add(url)
                if url.startswith(f"{repo}/blob/HEAD/"):
                    target = url[len(f"{repo}/blob/HEAD/"):].split("#")[0]
                    if not (ROOT / target).exists():
                        broken.append(f"{path.name}: {url} (no {target} in the repository)")
                if "mybinder.org" in url and "urlpath=lab/tree/" in url:
                    target = urllib.parse.unquote(url.split("urlpath=lab/tree/")[1])
                    if not (ROOT / target).exists():
                        broken.append(f"{path.name}: {url} (no {target} to open)")
                continue
            if parts.scheme in ("mailto", "data", "javascript") or (not parts.path and not parts.fragment):
                continue
            target = (path.parent / urllib.parse.unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(site)}: {url}")
            elif parts.fragment and target.suffix == ".html" and target in parsed \
                    and parts.fragment not in parsed[target].ids:
                broken.append(f"{path.relative_to(site)}: {url} (no anchor {parts.fragment!r})")
    assert not broken, f"{len(broken)} links that do not resolve: {broken[:10]}"
    print(f"\n{sum(len(l.urls) for l in parsed.values())} links in {len(parsed)} pages resolve; "
          f"{len(outside)} distinct links leave the site")


# ----------------------------------------------------------------------------- accessibility

def test_every_figure_has_alternative_text(pages):
    """Each cell that draws a figure describes it in its metadata; the page test above checks
    that every image on the site carries an alt text that is not a file name."""
    missing = {i: [nbgrader_meta(c).get("grade_id") for c in figure_cells(nb) if len(alt_text(c)) < 20]
               for i, nb in pages.items()}
    missing = {i: ids for i, ids in missing.items() if ids}
    assert not missing, (
        f"figure cells without alternative text (by nbgrader grade_id): {missing}. Describe what "
        "each figure shows in its cell's metadata in solutions/, "
        '{"mystnb": {"image": {"alt": "..."}}}, then `make lessons`')


def test_the_theme_has_enough_contrast(reader):
    """Every piece of text on the landing page and on a lesson (code included) against its
    background: WCAG AA, 4.5:1, or 3:1 for large text."""
    for path in ("index.html", page_url("02_near_miss")):
        page = reader.open(path)
        low = page.evaluate(LOW_CONTRAST)
        assert not low, f"{path}: text below WCAG AA contrast: {low[:8]}"
    # the check sees low contrast when there is some
    page.evaluate("() => { const p = document.createElement('p'); p.textContent = 'pale grey';"
                  " p.style.color = '#bbbbbb'; document.querySelector('article').prepend(p); }")
    assert any("pale grey" in t for t in page.evaluate(LOW_CONTRAST)), (
        "the contrast check misses pale grey text on white")


# Machado, Oliveira and Fernandes (2009): linear-RGB simulation of complete protanopia,
# deuteranopia and tritanopia
CVD = {"protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                      [-0.003882, -0.048116, 1.051998]],
       "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                        [-0.011820, 0.042940, 0.968881]],
       "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                      [0.004733, 0.691367, 0.303900]],
       "normal vision": np.eye(3).tolist()}
MIN_DELTA_E = 10.0     # CIEDE2000: two plot colours a reader tells apart at a glance


def linear_rgb(hex_colour: str) -> np.ndarray:
    c = np.array([int(hex_colour[k:k + 2], 16) / 255 for k in (1, 3, 5)])
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of a linear-RGB colour."""
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ np.clip(rgb, 0, 1)
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def delta_e2000(lab1: np.ndarray, lab2: np.ndarray) -> float:
    """CIEDE2000 colour difference (Sharma, Wu and Dalal 2005)."""
    (L1, a1, b1), (L2, a2, b2) = lab1, lab2
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean ** 7 / (c_mean ** 7 + 25 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1, c2 = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1, h2 = np.degrees(np.arctan2(b1, a1p)) % 360, np.degrees(np.arctan2(b2, a2p)) % 360
    dh = 0.0 if c1 * c2 == 0 else (h2 - h1 + 180) % 360 - 180
    d_big_h = 2 * np.sqrt(c1 * c2) * np.sin(np.radians(dh / 2))
    l_mean, c_mean_p = (L1 + L2) / 2, (c1 + c2) / 2
    if c1 * c2 == 0:
        h_mean = h1 + h2
    elif abs(h1 - h2) <= 180:
        h_mean = (h1 + h2) / 2
    else:
        h_mean = (h1 + h2 + 360) / 2 if h1 + h2 < 360 else (h1 + h2 - 360) / 2
    t = (1 - 0.17 * np.cos(np.radians(h_mean - 30)) + 0.24 * np.cos(np.radians(2 * h_mean))
         + 0.32 * np.cos(np.radians(3 * h_mean + 6)) - 0.20 * np.cos(np.radians(4 * h_mean - 63)))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c, s_h = 1 + 0.045 * c_mean_p, 1 + 0.015 * c_mean_p * t
    r_t = (-np.sin(np.radians(60 * np.exp(-((h_mean - 275) / 25) ** 2)))
           * 2 * np.sqrt(c_mean_p ** 7 / (c_mean_p ** 7 + 25 ** 7)))
    dl, dc, dh_ = (L2 - L1) / s_l, (c2 - c1) / s_c, d_big_h / s_h
    return float(np.sqrt(dl ** 2 + dc ** 2 + dh_ ** 2 + r_t * dc * dh_))


def closest_pair(colours: dict[str, str], vision: list) -> tuple[float, str, str]:
    seen = {name: lab(np.array(vision) @ linear_rgb(c)) for name, c in colours.items()}
    return min((delta_e2000(seen[a], seen[b]), a, b) for a, b in itertools.combinations(seen, 2))


def contrast_on_white(hex_colour: str) -> float:
    return 1.05 / (float(np.array([0.2126, 0.7152, 0.0722]) @ linear_rgb(hex_colour)) + 0.05)


def test_the_plot_palette_is_colour_blind_safe():
    """course.plots.COLORS: every pair of roles stays apart (CIEDE2000 >= 10) for readers with
    each complete colour blindness, and each colour stands out on white (3:1, WCAG's rule for
    the parts of a graphic). Dark2, the course's first palette, fails: its orange and brown
    are 2 apart for a protanope."""
    from course.plots import COLORS

    assert delta_e2000(lab(linear_rgb("#000000")), lab(linear_rgb("#ffffff"))) == pytest.approx(100, abs=0.01)
    # Sharma et al.'s test pair 1: (50, 2.6772, -79.7751) vs (50, 0, -82.7485) -> 2.0425
    assert delta_e2000(np.array([50, 2.6772, -79.7751]), np.array([50, 0, -82.7485])) == pytest.approx(2.0425, abs=1e-4)
    dark2 = {"self": "#1b9e77", "near": "#d95f02", "random": "#7570b3", "prior": "#666666",
             "accent": "#e7298a", "neutral": "#a6761d"}
    assert closest_pair(dark2, CVD["protanopia"])[0] < MIN_DELTA_E, "the check passes Dark2"
    close = {vision: closest_pair(COLORS, m) for vision, m in CVD.items()}
    failing = {v: f"{a} vs {b}: {d:.1f}" for v, (d, a, b) in close.items() if d < MIN_DELTA_E}
    assert not failing, f"course.plots colours too close to tell apart (CIEDE2000 < {MIN_DELTA_E}): {failing}"
    pale = {name: round(contrast_on_white(c), 2) for name, c in COLORS.items() if contrast_on_white(c) < 3}
    assert not pale, f"course.plots colours with less than 3:1 contrast on white: {pale}"


def test_page_removes_hidden_tests_and_folds_solutions():
    """book.page on an unexecuted solution: what goes, what stays (no site needed)."""
    text = book.readme()
    for lesson_id in READY:
        source = nbformat.read(str(lessons.solution_path(lesson_id)), as_version=4)
        nb = book.page(source, lesson_id, text)
        tests = [c for c in nb.cells if c.cell_type == "code" and nbgrader_meta(c).get("grade")
                 and not nbgrader_meta(c).get("solution")]
        assert tests and not any("HIDDEN TESTS" in c.source for c in nb.cells), lesson_id
        originals = {nbgrader_meta(c)["grade_id"]: c.source for c in source.cells
                     if nbgrader_meta(c).get("grade_id")}
        for cell in tests:
            want = book.HIDDEN_TESTS.sub("", originals[nbgrader_meta(cell)["grade_id"]]).rstrip()
            assert cell.source.rstrip() == want, f"{lesson_id}: a test cell lost visible lines"
            assert "hide-input" in cell.metadata["tags"] and not cell.outputs
        solutions = [c for c in nb.cells if c.cell_type == "code" and nbgrader_meta(c).get("solution")]
        assert solutions and all(c.metadata["mystnb"]["code_prompt_show"] == "Show solution"
                                 and "BEGIN SOLUTION" not in c.source for c in solutions), lesson_id
        notes = [c for c in nb.cells if c.cell_type == "markdown" and nbgrader_meta(c).get("solution")]
        assert all(c.source.startswith("::::{admonition} Show the answer notes") for c in notes)
        assert nb.cells[0].source.startswith("# ") and "course-launch" in nb.cells[1].source
        assert any("HIDDEN TESTS" in c.source for c in source.cells), "page() changed its input"
