"""Sphinx settings of the course's website; ``make book`` (course/tooling/book.py) writes the
sources and runs Sphinx with this folder as its configuration."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course.tooling.book import STUDENT_DIR, readme, repository_url  # noqa: E402

project = "Near-miss personalization"
author = "the course's authors"
copyright = "the course's authors, MIT licence"

extensions = [
    "myst_nb",                  # notebooks and MyST markdown
    "sphinx_togglebutton",      # the answer notes' dropdowns
    "sphinx-mathjax-offline",   # MathJax served with the site, not from a CDN
    "sphinx.ext.githubpages",   # .nojekyll: GitHub Pages then serves _static/ and _images/
]
exclude_patterns = [STUDENT_DIR, "**/.ipynb_checkpoints"]
# the notebooks arrive executed; the site never runs them
nb_execution_mode = "off"
# $...$ and $$...$$ equations, {.class} on a block (the launch bar), ::: fences (dropdowns)
myst_enable_extensions = ["dollarmath", "amsmath", "attrs_block", "colon_fence"]
myst_heading_anchors = 3
nb_merge_streams = True
# a cell's markdown output is MyST, tables included (lesson 07's course summary)
nb_render_markdown_format = "myst"
suppress_warnings = ["mystnb.unknown_mime_type"]

html_theme = "sphinx_book_theme"
html_title = project
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_copy_source = False        # a page's source is the student notebook, offered on the page
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    "repository_url": repository_url(readme()),
    "repository_branch": "HEAD",
    "path_to_docs": "",
    "use_repository_button": True,
    "use_download_button": False,
    "launch_buttons": {"binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"},
    "home_page_in_toc": True,
    "show_toc_level": 2,
}
