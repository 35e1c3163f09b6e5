"""The book, end to end: `make book` builds it, then every page is opened in a
headless Chromium.

The build is the Makefile's `book` target (one source of truth): `rm -rf
_build`, then `jupyter-book build . -W --keep-going`, which executes every
chapter and fails on any cell error or Sphinx warning. The browser checks then
load each page with every request to a host other than the local test server
blocked, and check that it raises no JavaScript error, that its images decode,
that its altair charts draw, that its equations are typeset, that no line is
cut at the right edge and that figures are shown at the size they were drawn.
A screenshot of every page is kept in _build/screenshots/.

Set BOOK_SKIP_BUILD=1 to check an existing _build/html without rebuilding it
(and BOOK_BUILD_DIR=... to check a build made elsewhere, e.g. with
`jupyter-book build . --path-output DIR`), and BOOK_TOC=... to check the pages
of another table of contents.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

pytestmark = [pytest.mark.book, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
# another place only with BOOK_SKIP_BUILD=1
BUILD = Path(os.environ.get("BOOK_BUILD_DIR", ROOT / "_build"))
HTML = BUILD / "html"
# A full-page screenshot of every page, for reading the book as a reader
# meets it (at 1280 x 900, the size the checks below use).
SCREENSHOTS = BUILD / "screenshots"
# Every jupyter-book 1.x page logs this; it comes from sphinx-thebe's script
# being included twice.
KNOWN_HARMLESS = ("Identifier 'THEBE_JS_URL' has already been declared",)
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# For each <pre> whose text is wider than its box (what a reader would have
# to scroll sideways to read): where it is and its longest line.
CUT_LINES_JS = """els => els
  .filter(e => e.scrollWidth > e.clientWidth + 1)
  .map(e => {
    const where = e.closest('.cell_input') ? 'code cell'
        : e.closest('.cell_output') ? 'cell output' : 'text';
    const lines = e.textContent.split('\\n');
    const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
    return `${where}, ${longest.length} characters: ${longest.trim()}`;
})"""


SHRUNK_JS = """els => els.map(e => {
    const drawn = parseFloat(e.style.width) || e.naturalWidth;
    const shown = e.getBoundingClientRect().width;
    return shown < 0.95 * drawn ? `${e.getAttribute('src')}: drawn ${drawn}`
        + ` px wide, shown at ${Math.round(shown)} px` : null;
}).filter(x => x)"""


def toc_documents() -> list[str]:
    toc = yaml.safe_load(
        Path(os.environ.get("BOOK_TOC", ROOT / "_toc.yml")).read_text()
    )
    docs = [toc["root"]]
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        docs += [chapter["file"] for chapter in part["chapters"]]
    return docs


DOCS = toc_documents()


@pytest.fixture(scope="module")
def book_html() -> Path:
    """Build the book with `make book` (unless BOOK_SKIP_BUILD=1) and return
    _build/html."""
    if os.environ.get("BOOK_SKIP_BUILD") != "1":
        start = time.monotonic()
        proc = subprocess.run(
            ["make", "--no-print-directory", "book"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        elapsed = time.monotonic() - start
        log = proc.stdout + proc.stderr
        log += (
            f"\n[tests/test_book.py] `make book` exited {proc.returncode}"
            f" after {elapsed:.0f} s\n"
        )
        HTML.parent.mkdir(exist_ok=True)
        (BUILD / "book-build.log").write_text(log)
        tail = "\n".join(log.splitlines()[-40:])
        assert proc.returncode == 0, (
            f"`make book` failed after {elapsed:.0f} s (log:"
            f" _build/book-build.log):\n{tail}"
        )
        print(
            f"\n`make book` took {elapsed:.0f} s; the build log is in"
            " _build/book-build.log"
        )
    assert (HTML / "index.html").is_file(), f"no {HTML}/index.html"
    return HTML


@pytest.fixture(scope="module")
def server(book_html: Path):
    """Serve _build/html on 127.0.0.1 (pages load their scripts as they would
    from a web server)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(book_html))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _chromium() -> str:
    path = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(path).exists():
        subprocess.run(
            ["make", "--no-print-directory", "chromium"], cwd=ROOT, check=False
        )
    if not Path(path).exists():
        message = (
            f"no Chromium at {path}: run `make chromium` (apt-get, as root) or"
            " set CHROMIUM=/path/to/chromium"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def browser(server):
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = _chromium()
    with sync_api.sync_playwright() as p:
        # Playwright gives each launch a fresh temporary profile
        # (--user-data-dir).
        browser = p.chromium.launch(
            executable_path=executable, args=CHROMIUM_FLAGS
        )
        yield browser
        browser.close()


def _is_local(url: str) -> bool:
    scheme = urlparse(url).scheme
    return scheme in ("data", "blob", "about") or urlparse(url).hostname in (
        "127.0.0.1",
        "localhost",
    )


@pytest.fixture(scope="module")
def pages(browser, server):
    """Load every page once (offline) and record what the checks need."""
    results = {}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for doc in DOCS:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        blocked: list[str] = []

        def route(r, blocked=blocked):
            if _is_local(r.request.url):
                r.continue_()
            else:
                blocked.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        errors: list[str] = []
        page.on(
            "pageerror",
            lambda e, errors=errors: errors.append(f"pageerror: {e}"),
        )
        page.on(
            "console",
            lambda m, errors=errors: (
                errors.append(f"console: {m.text}")
                if m.type == "error"
                else None
            ),
        )
        page.goto(f"{server}/{doc}.html", wait_until="load")
        page.wait_for_load_state("networkidle")

        # Images: load lazy ones now, then let every image decode.
        page.evaluate(
            "document.querySelectorAll('img[loading=lazy]').forEach(i => {"
            " i.loading = 'eager'; })"
        )
        page.wait_for_function(
            "Array.from(document.images).every(i => i.complete)",
            timeout=15_000,
        )
        images = page.eval_on_selector_all(
            "img",
            "els => els.map(i => [i.getAttribute('src'), i.naturalWidth])",
        )

        # Altair charts: vega-embed puts a canvas or an svg into each chart's
        # div.
        charts = page.query_selector_all("div[id^='altair-viz-']")
        drawn = 0
        for chart in charts:
            chart.scroll_into_view_if_needed()
            try:
                chart.wait_for_selector("canvas, svg", timeout=15_000)
                drawn += 1
            except Exception:  # noqa: BLE001 - reported by the test below
                pass
        chart_errors = page.eval_on_selector_all(
            "div[id^='altair-viz-'] .error",
            "els => els.map(e => e.textContent)",
        )

        # Equations: MathJax replaces each .math element by an mjx-container.
        n_math = page.eval_on_selector_all(".math", "els => els.length")
        typeset = 0
        if n_math:
            try:
                page.wait_for_selector("mjx-container", timeout=15_000)
            except Exception:  # noqa: BLE001 - reported by the test below
                pass
            typeset = page.eval_on_selector_all(
                "mjx-container", "els => els.length"
            )

        downloads = page.eval_on_selector_all(
            "a[href$='.ipynb']", "els => els.map(a => a.href)"
        )
        colab = page.eval_on_selector_all(
            "a[href*='colab.research.google.com']",
            "els => els.map(a => a.href)",
        )
        # Figures shrunk to fit the column (their 9-point text with them):
        # displayed width against the width they were drawn for (a retina PNG
        # is given half its pixel width in its style).
        shrunk = page.eval_on_selector_all("div.cell_output img", SHRUNK_JS)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(
            path=str(SCREENSHOTS / f"{Path(doc).name}.png"), full_page=True
        )
        # Code and text cut at the right edge: a <pre> wider than its box,
        # with collapsed (hide-input) cells opened first.
        page.evaluate(
            "document.querySelectorAll('details').forEach(d => d.open = true)"
        )
        cut = page.eval_on_selector_all("pre", CUT_LINES_JS)
        results[doc] = dict(
            errors=[
                e for e in errors if not any(k in e for k in KNOWN_HARMLESS)
            ],
            blocked=blocked,
            images=images,
            charts=len(charts),
            drawn=drawn,
            chart_errors=chart_errors,
            n_math=n_math,
            typeset=typeset,
            colab=colab,
            downloads=[u for u in downloads if _is_local(u)],
            cut=cut,
            shrunk=shrunk,
            title=page.title(),
        )
        context.close()
    return results


def test_book_builds(book_html: Path) -> None:
    for doc in DOCS:
        assert (book_html / f"{doc}.html").is_file(), (
            f"{doc}.html was not built"
        )


@pytest.mark.parametrize("doc", DOCS)
def test_page_has_no_javascript_errors_offline(pages, doc: str) -> None:
    result = pages[doc]
    assert result["errors"] == [], (
        f"{doc}: JavaScript errors {result['errors']}"
    )
    assert result["blocked"] == [], (
        f"{doc}: the page wanted to reach the internet: {result['blocked']}"
    )


@pytest.mark.parametrize("doc", DOCS)
def test_page_images_decode(pages, doc: str) -> None:
    broken = [src for src, width in pages[doc]["images"] if width == 0]
    assert broken == [], f"{doc}: images that did not load: {broken}"


@pytest.mark.parametrize("doc", DOCS)
def test_page_altair_charts_draw(pages, doc: str) -> None:
    result = pages[doc]
    assert result["chart_errors"] == [], f"{doc}: {result['chart_errors']}"
    assert result["drawn"] == result["charts"], (
        f"{doc}: {result['drawn']} of {result['charts']} altair charts drew"
    )


@pytest.mark.parametrize("doc", DOCS)
def test_page_equations_are_typeset(pages, doc: str) -> None:
    result = pages[doc]
    if result["n_math"]:
        assert result["typeset"] > 0, (
            f"{doc}: {result['n_math']} equations, none typeset by MathJax"
        )


@pytest.mark.parametrize(
    "doc", [d for d in DOCS if (ROOT / f"{d}.ipynb").exists()]
)
def test_notebook_pages_have_a_colab_button(pages, doc: str) -> None:
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"][
        "url"
    ]
    github = urlparse(repo).path.strip("/")
    expected = (
        "https://colab.research.google.com/github/"
        f"{github}/blob/main/{doc}.ipynb"
    )
    assert expected in pages[doc]["colab"], (
        f"{doc}: no Colab launch link {expected}; found {pages[doc]['colab']}"
    )


def test_the_training_chapter_draws_its_plots_and_attention_chart(
    pages,
) -> None:
    result = pages["book/11_training"]
    assert len(result["images"]) >= 6, (
        "schedule, label smoothing (2), padding, loss curve, attention heatmap"
    )
    assert result["charts"] >= 1 and result["drawn"] == result["charts"], (
        "the cross-attention chart draws offline"
    )


def test_the_book_has_figures_charts_and_screenshots(pages) -> None:
    assert sum(len(r["images"]) for r in pages.values()) >= 10, (
        "the chapters should draw their plots"
    )
    assert sum(r["charts"] for r in pages.values()) >= 1, (
        "at least one interactive altair chart"
    )
    for doc in DOCS:
        assert (SCREENSHOTS / f"{Path(doc).name}.png").stat().st_size > 10_000


@pytest.mark.parametrize("doc", DOCS)
def test_no_line_is_cut_at_the_right_edge(pages, doc: str) -> None:
    # At 1280 px: code (79 characters, pyproject.toml) and outputs must fit.
    assert not pages[doc]["cut"], (
        f"{doc}: lines wider than the page (shorten them, or wrap the "
        f"output): {pages[doc]['cut']}"
    )


@pytest.mark.parametrize("doc", DOCS)
def test_figures_are_shown_at_the_size_they_were_drawn(
    pages, doc: str
) -> None:
    # A figure wider than the column is scaled down, and its 9-point legend
    # and ticks with it: figures are at most FIGURE_MAX_WIDTH inches wide.
    assert not pages[doc]["shrunk"], (
        f"{doc}: figures scaled down to fit the page (draw them at most "
        f"transformer.book.FIGURE_MAX_WIDTH inches wide): {pages[doc]['shrunk']}"
    )


@pytest.mark.parametrize(
    "doc", [d for d in DOCS if (ROOT / f"{d}.ipynb").exists()]
)
def test_the_download_button_gives_the_chapters_notebook(
    pages, doc: str
) -> None:
    import urllib.request

    import nbformat

    links = pages[doc]["downloads"]
    assert links, f"{doc}: no .ipynb download link on the page"
    with urllib.request.urlopen(links[0]) as response:
        downloaded = nbformat.reads(response.read().decode(), as_version=4)
    ours = nbformat.read(ROOT / f"{doc}.ipynb", as_version=4)
    assert [c.source for c in downloaded.cells] == [
        c.source for c in ours.cells
    ], f"{doc}: the downloaded notebook is not book/{doc}.ipynb"
