"""Feedback preprocessing: students see why a test failed, never the hidden test's code,
and every feedback page starts with the grading status and its reason."""

from __future__ import annotations

import html
import json
from pathlib import Path

import jinja2
import nbformat
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from autograder.guards import is_test_cell


def status_banner(status: str, reason: str) -> str:
    """The line on top of a student's feedback (HTML, also valid inside Markdown)."""
    return f"<p><b>Grading status: {status}</b>" + (
        f" — {html.escape(reason)}</p>" if reason else "</p>"
    )


TRACEBACK = "Traceback (most recent call last):"


def short_printed_traceback(text: str) -> str:
    """`text` with a printed Python traceback cut down to its last line (the exception),
    e.g. what IPython prints to stderr when it runs out of memory formatting an error."""
    before, found, rest = text.partition(TRACEBACK)
    if not found:
        return text
    unindented = [line for line in rest.splitlines() if line.strip() and not line[0].isspace()]
    last = unindented[-1] if unindented else "(no exception line)"
    return f"{before}{TRACEBACK} (the lines it quotes from the tests are not shown)\n{last}\n"


class ShortTracebacks(NbGraderPreprocessor):
    """In test cells, replace an error's traceback (which quotes the failing test's source,
    hidden tests included) with its one-line message, written for students; a traceback
    printed to a stream (IPython's fallback when formatting an error fails, say for lack
    of memory) is cut down the same way."""

    def preprocess_cell(self, cell, resources, index):
        if is_test_cell(cell):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
                elif out.get("output_type") == "stream":
                    out["text"] = short_printed_traceback(out.get("text", ""))
        return cell, resources


class GradingStatus(NbGraderPreprocessor):
    """Put `course grade`'s status and reason for this student on top of the feedback.

    Part of nbgrader's GenerateFeedback steps (see nbgrader_config.py), so the page is the
    same whether `course grade`, `nbgrader generate_feedback` or formgrader writes it, and
    `nbgrader release_feedback` sends students what `--out` holds."""

    results_dir = Unicode("", help="course grade's results: <assignment>/<student>.json").tag(
        config=True
    )
    # set by `course grade`'s worker, which builds the feedback before it writes the result
    status = Unicode("", help="this student's status (instead of the results file)").tag(
        config=True
    )
    reason = Unicode("", help="the reason that goes with `status`").tag(config=True)

    def preprocess(self, nb, resources):
        meta = resources.get("nbgrader", {})
        path = Path(self.results_dir) / meta.get("assignment", "") / f"{meta.get('student')}.json"
        if self.status:
            banner = status_banner(self.status, self.reason)
        elif self.results_dir and path.is_file():
            result = json.loads(path.read_text())
            banner = status_banner(result["status"], result.get("reason", ""))
        else:
            return nb, resources
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(banner))
        return nb, resources


class _ProcessBytecodeCache(jinja2.BytecodeCache):
    """Compiled Jinja templates kept for the life of the process (checked against the
    template's source by Jinja, so an edited template is compiled again)."""

    def __init__(self):
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket):
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket):
        self.compiled[bucket.key] = bucket.bytecode_to_string()


_COMPILED = _ProcessBytecodeCache()


# what nbconvert's HTML exporter edits in its finished page (with BeautifulSoup): images
# without alternative text, and the lab template's cells (made focusable)
_SOUP_EDITS = ("<img", "jp-Cell-inputWrapper", "jp-OutputArea-output")


class CachedHTMLExporter(HTMLExporter):
    """nbconvert's HTML exporter, with two savings for a long-lived grading worker:

    - its templates are compiled once per process rather than once per page (nbgrader makes
      a new exporter for every student's feedback, and compiling took about a quarter of
      each page's time);
    - a page with nothing for nbconvert's last step to edit (no image, none of the lab
      template's cells: nbgrader's feedback template is the classic one) skips that step,
      which parses and re-serialises the whole page with BeautifulSoup (0.08 s of the 0.19 s
      a page of assignment 01 took). That page is the same document, written as the
      template wrote it (BeautifulSoup would only reorder attributes and close empty tags);
      any other page goes through the whole of nbconvert's exporter."""

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = _COMPILED
        return environment

    def from_notebook_node(self, nb, resources=None, **kw):
        if any(sign in json.dumps(nb) for sign in ("<img", "image/", "![")):
            return super().from_notebook_node(nb, resources, **kw)  # a page with images
        # HTMLExporter.from_notebook_node up to its BeautifulSoup step (nbconvert 7.x)
        language = nb.metadata.get("language_info", {})
        lexer = language.get("pygments_lexer", language.get("name", None))
        highlight_code = self.filters.get(
            "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)
        )
        resources = self._init_resources(resources)
        filter_data_type = WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources
        )
        self.register_filter("highlight_code", highlight_code)
        self.register_filter("filter_data_type", filter_data_type)
        page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        if any(edit in page for edit in _SOUP_EDITS):  # what the notebook did not show
            return super().from_notebook_node(nb, resources, **kw)
        return page, resources
