"""Feedback preprocessing: students see why a test failed, never the hidden test's code,
and every feedback page starts with the grading status and its reason."""

from __future__ import annotations

import html
import json
from pathlib import Path

import jinja2
import nbformat
from nbconvert.exporters import HTMLExporter
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from autograder.guards import is_test_cell


def status_banner(status: str, reason: str) -> str:
    """The line on top of a student's feedback (HTML, also valid inside Markdown)."""
    return f"<p><b>Grading status: {status}</b>" + (
        f" — {html.escape(reason)}</p>" if reason else "</p>"
    )


class ShortTracebacks(NbGraderPreprocessor):
    """In test cells, replace an error's traceback (which quotes the failing test's source,
    hidden tests included) with its one-line message, written for students."""

    def preprocess_cell(self, cell, resources, index):
        if is_test_cell(cell):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
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


class CachedHTMLExporter(HTMLExporter):
    """nbconvert's HTML exporter, compiling its templates once per process rather than once
    per page: nbgrader makes a new exporter for every student's feedback, and compiling the
    templates took about a quarter of each page's time in a long-lived grading worker. The
    pages are the same."""

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = _COMPILED
        return environment
