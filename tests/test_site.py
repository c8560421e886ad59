"""The published website, checked in a real browser and with no internet access.

Chromium (Debian's ``chromium``, installed when it is missing and we may: tests/browser.py) is
driven by Playwright against the built site served on localhost; every request to any other host is
aborted and counted as a failure, so the site must need nothing from a CDN. Every page in
_toc.yml is visited once (new pages are covered without editing this file) and checked:
no console errors and no failed requests, math typeset by MathJax, each mermaid diagram
drawn as an SVG, every image loaded, the widget outputs drawn. The layout checks (LAYOUT_JS)
fail a page that shows a progress-bar widget (the book build prints bars as one line of text:
ecomrec.progress), output-table cells without padding or numbers not right-aligned, or a
display equation or code block wider than its container with no scrollbar; each is shown to
catch its defect on a small planted page. The built-in
search must find the interest-modeling lesson. Without the browser: every internal link
resolves, and no solution or hidden-test line from solutions/ is published.

Full-page screenshots of the home page and of each lesson are saved to _build/screenshots/
for a person to look at.
"""

from __future__ import annotations

import contextlib
import functools
import html
import http.server
import json
import re
import threading
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from browser import headless_chromium
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from toc import toc_pages

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "_build" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}
PAGE_TIMEOUT_MS = 60_000


TOC_PAGES = toc_pages()
HOME = TOC_PAGES[0]
SCREENSHOT_PAGES = [HOME, "book/results"] + [p for p in TOC_PAGES if p.startswith("lessons/")]


def _screenshot_path(page: str) -> Path:
    return SCREENSHOTS / f"{page.replace('/', '__')}.png"


# ----------------------------------------------------------------------------------------
# The browser


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",  # mermaid is an ES module: browsers insist on a JS type
        ".js": "text/javascript",
        ".woff2": "font/woff2",
        ".svg": "image/svg+xml",
    }

    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="session")
def site_url(built_book: Path):
    """The built site on a local web server (a free port on 127.0.0.1)."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


# Runs in the page once it has loaded: waits for MathJax and mermaid, then reports.
COLLECT_JS = """
async () => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const deadline = Date.now() + 20000;
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const diagrams = () => [...document.querySelectorAll(".mermaid")]
    .filter((el) => !el.closest(".mermaid-fullscreen-modal"));
  while (Date.now() < deadline && diagrams().some(
      (el) => !el.querySelector("svg") && !el.hasAttribute("data-mermaid-render-failed"))) {
    await sleep(100);
  }
  document.querySelectorAll("img[loading=lazy]").forEach((img) => { img.loading = "eager"; });
  while (Date.now() < deadline && [...document.images].some((img) => !img.complete)) {
    await sleep(100);
  }
  // Text a reader sees that is not code, not an output block and not typeset math.
  const prose = [];
  const main = document.querySelector("main") || document.body;
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  const skip = "pre, code, script, style, textarea, mjx-container, .highlight, .output";
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.parentElement.closest(skip)) prose.push(node.textContent);
  }
  const views = [...document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"]')];
  return {
    title: document.title,
    math: document.querySelectorAll(".math").length,
    untypeset: [...document.querySelectorAll(".math")]
      .filter((el) => !el.querySelector("mjx-container"))
      .map((el) => el.textContent.slice(0, 80)),
    mathjaxErrors: [...document.querySelectorAll("mjx-merror, [data-mjx-error]")]
      .map((el) => el.getAttribute("data-mjx-error") || el.textContent.slice(0, 80)),
    prose: prose.join(" "),
    diagrams: diagrams().length,
    diagramSvgs: diagrams().filter((el) => el.querySelector("svg")).length,
    diagramErrors: diagrams()
      .filter((el) => el.querySelector('svg[aria-roledescription="error"]')
        || /Syntax error in text|Parse error/i.test(el.textContent))
      .map((el) => (el.querySelector(".error-text") || el).textContent.slice(0, 120)),
    images: document.images.length,
    brokenImages: [...document.images]
      .filter((img) => !(img.complete && img.naturalWidth > 0))
      .map((img) => img.getAttribute("src")),
    widgets: views.length,
    undrawnWidgets: views.filter((script) => {
      const drawn = script.previousElementSibling;
      return !(drawn && drawn.classList.contains("widget-subarea") && drawn.children.length);
    }).length,
  };
}
"""


# Runs in the page after COLLECT_JS: what a reader would see as broken layout.
LAYOUT_JS = """
() => {
  const main = document.querySelector("main") || document.body;
  const short = (el) => (el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 60);
  // progress-bar widgets: drawn ones, and ones whose state is embedded in the page
  const progressModels = [];
  for (const script of document.querySelectorAll(
      'script[type="application/vnd.jupyter.widget-state+json"]')) {
    let state = {};
    try { state = JSON.parse(script.textContent).state || {}; } catch (error) { continue; }
    for (const model of Object.values(state)) {
      const name = (model.model_name || "") + "";
      if (/Progress/.test(name)) {
        progressModels.push(`${name} ${(model.state || {}).bar_style || ""}`.trim());
      }
    }
  }
  const drawnBars = [...document.querySelectorAll(".widget-progress, .progress-bar")];
  const redBars = [...document.querySelectorAll(
      ".progress-bar-danger, .progress-bar.bg-danger, .widget-progress .progress-bar")]
    .filter((bar) => {
      if (/danger/.test(bar.className)) return true;
      const [r, g, b] = (getComputedStyle(bar).backgroundColor.match(/\\d+/g) || [])
        .map(Number);
      return r > 150 && g < 110 && b < 110;
    }).map((bar) => bar.className);
  // output tables (pandas HTML, Styler): padded cells, numbers on the right
  const cells = [...main.querySelectorAll(".cell_output table td, .cell_output table th")]
    .filter((cell) => cell.textContent.trim() !== "");
  const unpadded = cells.filter((cell) => {
    const style = getComputedStyle(cell);
    return parseFloat(style.paddingLeft) + parseFloat(style.paddingRight) < 4;  // 1px: touching
  }).map(short);
  const number = /^[-+\u2212]?[\\d,]*\\.?\\d+(e[-+]?\\d+)?%?$/i;
  const leftNumbers = cells.filter((cell) => cell.tagName === "TD"
      && number.test(cell.textContent.trim())
      && !["right", "end"].includes(getComputedStyle(cell).textAlign)).map(short);
  // wider than the box it sits in, and nothing between them scrolls: clipped or spilling out
  const scrolls = (el, stop) => {
    for (let e = el; e && e !== stop; e = e.parentElement) {
      if (["auto", "scroll"].includes(getComputedStyle(e).overflowX)) {
        return e.clientWidth <= stop.clientWidth + 1;
      }
    }
    return false;
  };
  const overflowing = (selector) => [...main.querySelectorAll(selector)].filter((el) => {
    const box = el.parentElement;
    const wide = el.scrollWidth > el.clientWidth + 1 || el.scrollWidth > box.clientWidth + 1;
    return wide && !scrolls(el, main);
  }).map(short);
  return {
    progressWidgets: drawnBars.length + progressModels.length,
    progressModels,
    redBars,
    tableCells: cells.length,
    unpaddedCells: unpadded,
    leftAlignedNumbers: leftNumbers,
    displayMath: main.querySelectorAll('mjx-container[display="true"]').length,
    overflowingMath: overflowing('mjx-container[display="true"]'),
    overflowingCode: overflowing("pre"),
  };
}
"""


@dataclass
class PageReport:
    page: str
    status: int | None = None
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    stats: dict = field(default_factory=dict)


class Site:
    """One browser for the session. Each page is visited once, in a fresh browser context
    (no cookies, no local storage: a reader's first visit), and the report kept."""

    def __init__(self, browser, base_url: str):
        self.browser = browser
        self.base_url = base_url
        self.report: PageReport | None = None
        self.reports: dict[str, PageReport] = {}

    def _note(self, kind: str, text: str) -> None:
        if self.report is not None:
            getattr(self.report, kind).append(text)

    def _route(self, route) -> None:
        if route.request.url.startswith(self.base_url):
            route.continue_()
        else:  # the site must need nothing from the internet
            self._note("external_requests", route.request.url)
            route.abort()

    def _on_console(self, message) -> None:
        if message.type == "error":
            self._note("console_errors", f"{message.text} ({message.location.get('url')})")

    def _on_failed(self, request) -> None:
        self._note("failed_requests", f"{request.url} ({request.failure})")

    def _on_response(self, response) -> None:
        if response.status >= 400:
            self._note("failed_requests", f"{response.url} (HTTP {response.status})")

    @contextlib.contextmanager
    def _tab(self, name: str):
        self.report = PageReport(name)
        context = self.browser.new_context(viewport=VIEWPORT)
        try:
            context.route("**/*", self._route)
            tab = context.new_page()
            tab.set_default_timeout(PAGE_TIMEOUT_MS)
            tab.on("console", self._on_console)
            tab.on("pageerror", lambda error: self._note("console_errors", f"uncaught {error}"))
            tab.on("requestfailed", self._on_failed)
            tab.on("response", self._on_response)
            yield tab, self.report
        finally:
            report, self.report = self.report, None  # requests cut by the close do not count
            context.close()
            self.reports[name] = report

    def visit(self, page: str) -> PageReport:
        if page not in self.reports:
            with self._tab(page) as (tab, report):
                response = tab.goto(self.base_url + page + ".html", wait_until="load")
                report.status = response.status if response else None
                tab.wait_for_load_state("networkidle")
                report.stats = tab.evaluate(COLLECT_JS)
                report.stats["layout"] = tab.evaluate(LAYOUT_JS)
                if page in SCREENSHOT_PAGES:
                    tab.screenshot(path=_screenshot_path(page), full_page=True)
                tab.wait_for_load_state("networkidle")  # anything the checks made it fetch
        return self.reports[page]

    def search(self, query: str) -> tuple[list[str], PageReport]:
        """Links listed by the built-in search page for `query`, and the page's report."""
        with self._tab(f"search.html?q={query}") as (tab, report):
            tab.goto(f"{self.base_url}search.html?q={query}", wait_until="load")
            with contextlib.suppress(PlaywrightTimeout):  # no result: the test says so
                tab.wait_for_selector(
                    "#search-results ul.search li a", state="attached", timeout=30_000
                )
            links = tab.eval_on_selector_all(
                "#search-results ul.search li a", "els => els.map(a => a.getAttribute('href'))"
            )
        return links, report


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session."""
    with headless_chromium() as launched:
        yield launched


@pytest.fixture(scope="session")
def site(request, browser, site_url: str):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    yield Site(browser, site_url)
    shots = sorted(SCREENSHOTS.glob("*.png"))
    if shots:  # printed past pytest's output capture, for a person to find them
        capture = request.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            print(f"\nscreenshots of the site ({len(shots)} pages): {SCREENSHOTS}/")


# ----------------------------------------------------------------------------------------
# Every page of the table of contents in the browser


def test_toc_lists_the_lessons():
    assert [p for p in TOC_PAGES if p.startswith("lessons/")], "no lesson in _toc.yml"
    assert len(TOC_PAGES) == len(set(TOC_PAGES))


REMOTE_SCRIPT = re.compile(
    r"""<script[^>]*\ssrc="(?:https?:)?//[^"]+"|from\s+"(?:https?:)?//[^"]+\""""
)


def test_browser_libraries_are_served_by_the_site(built_book):
    """MathJax, mermaid, require.js and the widget manager come from _static/offline
    (book/_ext/offline_assets.py), not from CDNs."""
    assert (built_book / "_static" / "offline" / ".stamp.json").is_file(), (
        "the build did not install the browser libraries, so the site loads them from CDNs: "
        "install Node.js (npm) and rebuild; the build log says why (look for offline_assets)"
    )
    for page in TOC_PAGES:
        text = (built_book / f"{page}.html").read_text()
        remote = REMOTE_SCRIPT.findall(text)
        assert not remote, f"{page} loads scripts from the internet: {remote}"


@pytest.mark.parametrize("page", TOC_PAGES)
def test_page_loads_offline_without_errors(site, page):
    report = site.visit(page)
    assert report.status == 200, f"{page}: HTTP {report.status}"
    external, failed, errors = (
        report.external_requests,
        report.failed_requests,
        report.console_errors,
    )
    assert not external, f"{page} needs the internet (blocked requests to other hosts): {external}"
    assert not failed, f"{page}: failed requests {failed}"
    assert not errors, f"{page}: console errors {errors}"


# TeX left as text: $$, \( \[, a backslash command, or a sub/superscript group.
RAW_TEX = re.compile(
    r"\$\$|\\\(|\\\[|[_^]\{|\\(?:frac|sum|prod|math[a-z]+|hat|bar|tilde|sigma|alpha|beta|"
    r"theta|lambda|mu|cdot|log|exp|left|right|top|leq|geq|in|mid|text|operatorname)(?![a-zA-Z])"
)


@pytest.mark.parametrize("page", TOC_PAGES)
def test_math_is_typeset(site, page):
    stats = site.visit(page).stats
    assert not stats["untypeset"], f"{page}: math MathJax did not typeset: {stats['untypeset']}"
    assert not stats["mathjaxErrors"], f"{page}: MathJax errors {stats['mathjaxErrors']}"
    raw = sorted({m.group(0) for m in RAW_TEX.finditer(stats["prose"])})
    if raw:
        where = [
            stats["prose"][max(0, m.start() - 40) : m.end() + 40]
            for m in RAW_TEX.finditer(stats["prose"])
        ]
        pytest.fail(f"{page}: raw TeX in the text {raw}, e.g. {where[:3]}")


@pytest.mark.parametrize("page", TOC_PAGES)
def test_mermaid_diagrams_are_svg(site, page):
    stats = site.visit(page).stats
    assert stats["diagramSvgs"] == stats["diagrams"], (
        f"{page}: {stats['diagrams'] - stats['diagramSvgs']} of {stats['diagrams']} mermaid "
        "diagrams were not drawn"
    )
    assert not stats["diagramErrors"], f"{page}: mermaid could not parse {stats['diagramErrors']}"


@pytest.mark.parametrize("page", TOC_PAGES)
def test_images_load(site, page):
    stats = site.visit(page).stats
    assert not stats["brokenImages"], f"{page}: images that did not load {stats['brokenImages']}"


@pytest.mark.parametrize("page", TOC_PAGES)
def test_widget_outputs_are_drawn(site, page):
    stats = site.visit(page).stats
    assert stats["undrawnWidgets"] == 0, (
        f"{page}: {stats['undrawnWidgets']} of {stats['widgets']} widget outputs (progress "
        "bars) were not drawn by the widget manager"
    )


def test_the_site_has_math_diagrams_plots_and_widgets(site):
    """The checks above looked at something: the site has each kind of content. (Widgets
    are not required: the lessons' progress bars are printed as text on the site.)"""
    totals = {key: 0 for key in ("math", "diagrams", "images")}
    for page in TOC_PAGES:
        stats = site.visit(page).stats
        for key in totals:
            totals[key] += stats[key]
    assert all(totals.values()), f"some kind of content is missing from the whole site: {totals}"
    for page in TOC_PAGES:
        if page.startswith("lessons/"):
            assert site.visit(page).stats["images"], f"{page} shows no plot"


LESSON_PAGES = [p for p in TOC_PAGES if p.startswith("lessons/")]
LAYOUT_PAGES = LESSON_PAGES + ["book/results"]  # the results page is all tables


def _layout_problems(layout: dict) -> list[str]:
    """What LAYOUT_JS found wrong on one page, as sentences (empty: the page is fine)."""
    problems = []
    if layout["progressWidgets"] or layout["redBars"]:
        problems.append(
            f"{layout['progressWidgets']} progress-bar widgets ({layout['progressModels']}), "
            f"{len(layout['redBars'])} red: use `from ecomrec.progress import tqdm`, which "
            "prints one line in the book build, and no library bar (tqdm.auto) in a lesson"
        )
    if layout["unpaddedCells"]:
        problems.append(f"table cells without padding: {layout['unpaddedCells'][:5]}")
    if layout["leftAlignedNumbers"]:
        problems.append(f"numbers not right-aligned: {layout['leftAlignedNumbers'][:5]}")
    if layout["overflowingMath"]:
        problems.append(f"equations wider than the page, no scrollbar: {layout['overflowingMath']}")
    if layout["overflowingCode"]:
        problems.append(f"code wider than its block, no scrollbar: {layout['overflowingCode'][:3]}")
    return problems


@pytest.mark.parametrize("page", LAYOUT_PAGES)
def test_lesson_layout_has_no_progress_widget_touching_cells_or_clipped_math(site, page):
    report = site.visit(page)
    assert report.status == 200, f"{page}: HTTP {report.status}"
    problems = _layout_problems(report.stats["layout"])
    assert not problems, f"{page}: " + "; ".join(problems)


def test_the_layout_checks_looked_at_tables_and_equations(site):
    totals = {"tableCells": 0, "displayMath": 0}
    for page in LESSON_PAGES:
        layout = site.visit(page).stats["layout"]
        for key in totals:
            totals[key] += layout[key]
    assert all(totals.values()), (
        f"the lessons show no output table or no display equation: {totals}"
    )


# A small page with each defect the layout checks look for, and the same page repaired. The
# site's stylesheet is not loaded: the page states its own styles, so the test is about the
# checks, and runs without a book build.
PLANTED_CSS = {
    "padding": ("padding: 0", "padding: 0.25em 0.75em"),
    "align": ("text-align: left", "text-align: right"),
    "math": ("overflow-x: visible", "overflow-x: auto"),
    "code": ("overflow-x: hidden", "overflow-x: auto"),
}
PLANTED_PAGE = """<!doctype html><html><head><style>
main {{ width: 600px; }}
td, th {{ {padding}; {align}; }}
mjx-container {{ display: block; {math}; }}
pre {{ {code}; }}
</style></head><body><main>
{bar}
<div class="cell_output"><table><thead><tr><th></th><th>ndcg@10</th></tr></thead>
<tbody><tr><th>gru</th><td>0.123</td></tr><tr><th>markov</th><td>0.089</td></tr></tbody>
</table></div>
<mjx-container display="true"><span style="display: inline-block; width: 1400px">x</span>
</mjx-container>
<pre>{long_line}</pre>
</main></body></html>"""
RED_BAR = (
    '<div class="widget-progress"><div class="progress">'
    '<div class="progress-bar progress-bar-danger" style="width: 40%; background: #d9534f">'
    "</div></div></div>"
)


def _planted_layout(browser, defects: set[str]) -> dict:
    styles = {name: pair[name not in defects] for name, pair in PLANTED_CSS.items()}
    page_html = PLANTED_PAGE.format(
        bar=RED_BAR if "bar" in defects else "", long_line="token " * 300, **styles
    )
    context = browser.new_context(viewport=VIEWPORT)
    try:
        tab = context.new_page()
        tab.set_content(page_html)
        return tab.evaluate(LAYOUT_JS)
    finally:
        context.close()


def test_layout_checks_pass_a_clean_page(browser):
    layout = _planted_layout(browser, set())
    assert layout["tableCells"] == 5 and layout["displayMath"] == 1, layout  # 5 with text
    assert _layout_problems(layout) == [], layout


@pytest.mark.parametrize(
    ("defect", "found"),
    [
        ("bar", "progress-bar widgets"),
        ("padding", "without padding"),
        ("align", "not right-aligned"),
        ("math", "equations wider"),
        ("code", "code wider"),
    ],
)
def test_layout_checks_catch_a_planted_defect(browser, defect, found):
    problems = _layout_problems(_planted_layout(browser, {defect}))
    assert len(problems) == 1 and found in problems[0], problems


def test_search_finds_the_interest_modeling_lesson(site):
    links, report = site.search("GRU")
    pages = [urlsplit(link).path for link in links]
    assert "lessons/02-interest-modeling.html" in pages, f"search for GRU found {pages}"
    assert not report.external_requests, report.external_requests
    assert not report.failed_requests, report.failed_requests
    assert not report.console_errors, report.console_errors


def test_screenshots_are_saved(site):
    for page in SCREENSHOT_PAGES:
        site.visit(page)
        path = _screenshot_path(page)
        assert path.is_file(), f"no screenshot of {page}"
        assert path.stat().st_size > 20_000, f"{path} is nearly empty"


# ----------------------------------------------------------------------------------------
# Links and solutions, from the built files


class _PageParser(HTMLParser):
    """Ids, links and visible text lines of one html page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag == "a" and attrs.get("href") is not None:
            self.links.append(attrs["href"])
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


@functools.cache
def _parse(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(errors="replace"))
    parser.close()
    return parser


def _html_files(built_book: Path) -> list[Path]:
    skip = ("_static", "_sources", "_images", "_downloads")
    return sorted(
        p for p in built_book.rglob("*.html") if p.relative_to(built_book).parts[0] not in skip
    )


def test_internal_links_resolve(built_book):
    broken = []
    for source in _html_files(built_book):
        for href in _parse(source).links:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href in ("", "#"):
                continue  # external, mailto:, javascript:, or a button
            target = source if not parts.path else (source.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            where = f"{source.relative_to(built_book)}: {href}"
            if not target.is_relative_to(built_book.resolve()) and target != source:
                broken.append(f"{where} (leaves the site)")
            elif not target.is_file():
                broken.append(f"{where} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in _parse(target).ids:
                    broken.append(f"{where} (no such anchor)")
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(broken[:40])


MARKERS = {
    "### BEGIN SOLUTION": "### END SOLUTION",
    "### BEGIN HIDDEN TESTS": "### END HIDDEN TESTS",
}
MIN_LINE = 20  # shorter lines (`pass`, `model.eval()`, `return x`) say nothing


def _norm(line: str) -> str:
    return " ".join(line.split())


def _notebook_lines(path: Path) -> list[str]:
    notebook = json.loads(path.read_text())
    lines = []
    for cell in notebook.get("cells", []):
        source = cell.get("source", "")
        lines += ("".join(source) if isinstance(source, list) else source).splitlines()
        for output in cell.get("outputs", []):
            for text in (output.get("text"), output.get("data", {}).get("text/plain")):
                if text:
                    lines += ("".join(text) if isinstance(text, list) else text).splitlines()
    return lines


def _solution_lines() -> set[str]:
    """Lines written only between the solution / hidden-test markers in solutions/ (a line
    that the notebook also has outside them, say in a visible test, is public by design)."""
    inside, outside = set(), set()
    for notebook in sorted((ROOT / "solutions").rglob("*.ipynb")):
        end = None
        for line in _notebook_lines(notebook):
            stripped = line.strip()
            if end is None:
                end = next((e for b, e in MARKERS.items() if stripped.startswith(b)), None)
                outside.add(_norm(stripped))
            elif stripped.startswith(end):
                end = None
            elif len(stripped) >= MIN_LINE and re.search(r"[A-Za-z]{3}", stripped):
                inside.add(_norm(stripped))
    return inside - outside


def _public_source_lines() -> set[str]:
    """Lines of the lessons, the book pages and the course library, which are public anyway
    (a solution may call the library the way a lesson does). Not the exercises: a line of a
    solution there would be a leak."""
    lines = set()
    for path in (ROOT / "lessons").glob("*.ipynb"):
        lines.update(_norm(line) for line in _notebook_lines(path))
    for path in (ROOT / "book").rglob("*.ipynb"):
        lines.update(_norm(line) for line in _notebook_lines(path))
    for pattern in ("book/**/*.md", "ecomrec/**/*.py"):
        for path in ROOT.glob(pattern):
            lines.update(_norm(line) for line in path.read_text().splitlines())
    return lines


def _published_lines(built_book: Path) -> dict[str, str]:
    """Every line of text the site publishes -> one file that has it."""
    published: dict[str, str] = {}
    for path in _html_files(built_book):
        text = html.unescape("".join(_parse(path).text))
        for line in text.splitlines():
            published.setdefault(_norm(line), str(path.relative_to(built_book)))
    for path in built_book.rglob("*"):
        rel = path.relative_to(built_book)
        if rel.parts[0] == "_static" or path.suffix not in (".ipynb", ".md", ".py", ".txt"):
            continue
        lines = _notebook_lines(path) if path.suffix == ".ipynb" else path.read_text().splitlines()
        for line in lines:
            published.setdefault(_norm(line), str(rel))
    return published


def test_no_solution_or_hidden_test_line_is_published(built_book):
    assert not (built_book / "solutions").exists(), "solutions/ is published"
    published_paths = [p.relative_to(built_book).as_posix() for p in built_book.rglob("*")]
    assert not [p for p in published_paths if "solutions/" in p or p.startswith("solutions")]
    secret = _solution_lines()
    assert len(secret) >= 100, f"only {len(secret)} solution lines found: are the markers right?"
    secret -= _public_source_lines()
    published = _published_lines(built_book)
    leaked = {line: published[line] for line in sorted(secret) if line in published}
    assert not leaked, f"{len(leaked)} solution/hidden-test lines are published:\n" + "\n".join(
        f"  {where}: {line}" for line, where in list(leaked.items())[:30]
    )
