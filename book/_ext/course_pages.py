"""Sphinx extension for the course's own pages (loaded from _config.yml, local_extensions).

- The results page (``book/results.ipynb``) reads what the lessons record when they run,
  so it is read (and executed) after every other page, and on every build, even when
  nothing in it changed: a lesson that re-executed may have recorded new numbers.
- Exercise pages (``exercises/<slug>/<slug>.ipynb``) are the released student notebooks,
  shown without executing them. Each gets a box under its title with a download link and
  how to work on it in JupyterLab. Only the rendered page changes: the notebook file the
  reader downloads is the released one, byte for byte.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath

RESULTS_PAGE = "book/results"
EXERCISES = "exercises/"

_EXERCISE_BOX = """\
:::{{admonition}} Work on this exercise in JupyterLab
:class: tip

This page shows assignment `{slug}` as students receive it: no outputs, not executed here.
{{download}}`Download {name} <{name}>` (or use the download button at the top of the page).

1. Install the course once (see {{doc}}`/book/setup`); the notebook loads ShopSim through the
   `ecomrec` package, so it needs the course environment.
2. Start JupyterLab with `make lab` in the repository (or the course's JupyterHub, if your
   instructor runs one) and open `exercises/{slug}/{name}`, or the file you downloaded.
3. Replace each `raise NotImplementedError()` with your code, run the test cell under it, and
   press **Validate** in the toolbar before you submit.

The tests you see are a sample: hidden tests are added when it is graded.
:::
"""


def _read_last(app, env, docnames: list[str]) -> None:
    if RESULTS_PAGE in docnames:
        docnames.remove(RESULTS_PAGE)
        docnames.append(RESULTS_PAGE)


def _always_reread_results(app, env, added, changed, removed) -> list[str]:
    return [RESULTS_PAGE] if RESULTS_PAGE in env.found_docs else []


def _exercise_box(app, docname: str, source: list[str]) -> None:
    if not docname.startswith(EXERCISES):
        return
    path = PurePosixPath(docname)
    notebook = json.loads(source[0])
    box = _EXERCISE_BOX.format(slug=path.parent.name, name=f"{path.name}.ipynb")
    cell = {"cell_type": "markdown", "id": "course-exercise-box", "metadata": {}, "source": box}
    cells = notebook["cells"]
    has_title = bool(cells) and cells[0]["cell_type"] == "markdown"
    cells.insert(1 if has_title else 0, cell)
    source[0] = json.dumps(notebook)


def setup(app):
    app.connect("env-before-read-docs", _read_last)
    app.connect("env-get-outdated", _always_reread_results)
    app.connect("source-read", _exercise_box)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
