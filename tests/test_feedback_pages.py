"""Feedback pages from `autograder.feedback.CachedHTMLExporter` are nbconvert's pages.

The exporter skips nbconvert's final BeautifulSoup pass when it has nothing to edit; these
tests check that such a page is the same document as nbconvert's (only serialised as the
template wrote it), and that a page with something to edit is nbconvert's, byte for byte."""

from __future__ import annotations

import base64

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbconvert.exporters import HTMLExporter

from autograder.feedback import CachedHTMLExporter

# a 1x1 PNG
PIXEL = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000100ffff03000006000557bfab"
        "d40000000049454e44ae426082"
    )
).decode()


def _notebook(with_image: bool) -> nbformat.NotebookNode:
    code = nbformat.v4.new_code_cell("print('hi')\n1 / 0", execution_count=1)
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="hi <b>&amp;\n"),
        nbformat.v4.new_output(
            "error",
            ename="ZeroDivisionError",
            evalue="division by zero",
            traceback=["\x1b[31mZeroDivisionError\x1b[0m: division by zero"],
        ),
    ]
    if with_image:
        code.outputs.append(
            nbformat.v4.new_output("display_data", data={"image/png": PIXEL, "text/plain": "x"})
        )
    return nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Title\n\nSome *text* & a [link](#x)."), code],
        metadata={"language_info": {"name": "python", "pygments_lexer": "ipython3"}},
    )


def _pages(nb, template: str) -> tuple[str, str]:
    ours, _ = CachedHTMLExporter(template_name=template).from_notebook_node(nb)
    theirs, _ = HTMLExporter(template_name=template).from_notebook_node(nb)
    return ours, theirs


def test_a_page_without_images_is_nbconverts_document():
    ours, theirs = _pages(_notebook(with_image=False), "classic")
    assert ours != theirs, "expected the BeautifulSoup pass to be skipped"
    assert str(BeautifulSoup(ours, features="html.parser")) == theirs


@pytest.mark.parametrize(
    "with_image, template", [(True, "classic"), (False, "lab")], ids=["image", "lab-template"]
)
def test_a_page_nbconvert_edits_is_nbconverts_byte_for_byte(with_image, template):
    ours, theirs = _pages(_notebook(with_image), template)
    assert ours == theirs
    if with_image:
        assert 'alt="No description has been provided for this image"' in ours


def test_a_traceback_printed_in_a_test_cell_loses_the_tests_lines():
    # seen in CI: a memory bomb made IPython fail to format an error, and its fallback
    # printed the plain traceback, quoting a hidden test, to stderr
    from autograder.feedback import ShortTracebacks

    printed = (
        "category_shares: tests passed\n"
        "Unexpected exception formatting exception. Falling back to standard exception\n"
        "Traceback (most recent call last):\n"
        '  File "/tmp/ipykernel_4/35.py", line 66, in <module>\n'
        "    expected = pd.crosstab(\n"
        "               ^^^^^^^^^^^^\n"
        "MemoryError\n"
    )
    cell = nbformat.v4.new_code_cell("hidden test source")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 1}
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text=printed)]
    answer = nbformat.v4.new_code_cell("x = 1")
    answer.metadata["nbgrader"] = {"grade": False, "solution": True, "grade_id": "a"}
    answer.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)]
    nb = nbformat.v4.new_notebook(cells=[cell, answer])
    ShortTracebacks().preprocess(nb, {})
    shown = nb.cells[0].outputs[0]["text"]
    assert "crosstab" not in shown and "ipykernel" not in shown
    assert shown.startswith("category_shares: tests passed\n") and shown.endswith("MemoryError\n")
    assert nb.cells[1].outputs[0]["text"] == printed, "the student's own cells are left alone"
