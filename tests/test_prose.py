"""Lesson prose says what the run shows: every glued name is glued by the lesson's code, and
every claim a lesson records holds in the run (ecomrec.prose.Claims).

A lesson glues measured numbers and claims (MyST-NB `glue`) and cites them in Markdown with
{glue}`name` or {glue:text}`name:format`; the strict book build fails on a name that no
cell glued. The claims it teaches ("the two frameworks agree", "A beats B") are recorded under
"claims" by record_results: each must be True, or the lesson would teach something its own
run does not support.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from ecomrec.results import load_results

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("*.ipynb"))
GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`([A-Za-z0-9_.-]+)")


def _glued_in_markdown(nb) -> set[str]:
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return set(GLUE_ROLE.findall(text))


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_cited_glue_name_is_glued_by_a_code_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    missing = sorted(
        name
        for name in _glued_in_markdown(nb)
        if f'"{name}"' not in code and f"'{name}'" not in code
    )
    assert not missing, f"{path.name} cites glue names no code cell glues: {missing}"


def test_glue_role_pattern_reads_both_forms():
    text = "GRU {glue:text}`gru_ndcg:.4f`, {glue:md}`agree_sentence` and {glue}`fig`."
    assert set(GLUE_ROLE.findall(text)) == {"gru_ndcg", "agree_sentence", "fig"}


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_recorded_claim_holds(built_book, path):
    claims = load_results(path.stem).get("claims", {})
    failed = sorted(name for name, holds in claims.items() if not holds)
    assert not failed, (
        f"{path.stem}: the run does not support the claims {failed}; the page now says the "
        "opposite: change what the lesson teaches, or find out why the model got worse"
    )


def test_glue_value_glues_numpy_scalars_as_python_numbers(monkeypatch):
    import myst_nb
    import numpy as np

    from ecomrec.prose import glue_value

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: glued.update({name: value}))
    glue_value("share", np.float64(0.25))
    glue_value("count", np.int64(3))
    assert glued == {"share": 0.25, "count": 3}
    assert type(glued["share"]) is float and type(glued["count"]) is int
