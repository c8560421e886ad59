"""Sphinx extension for the course's own pages (loaded from _config.yml, local_extensions).

- The results page (``book/results.ipynb``) reads what the lessons record when they run,
  so it is read (and executed) after every other page, and on every build, even when
  nothing in it changed: a lesson that re-executed may have recorded new numbers.
- Lessons whose cached execution is missing or stale are executed before Sphinx reads
  them, several at a time (one per core: each lesson uses one thread), and stored in the
  same jupyter-cache that MyST-NB then reads; a cold build on 2 cores takes about half as
  long. Each notebook still runs exactly once per build. A notebook that fails here is
  left uncached, so MyST-NB runs it again and reports the failure as usual.
- Exercise pages (``exercises/<slug>/<slug>.ipynb``) are the released student notebooks,
  shown without executing them. Each gets a box under its title with a download link and
  how to work on it in JupyterLab. Only the rendered page changes: the notebook file the
  reader downloads is the released one, byte for byte.
- The course's stylesheet (``book/_static/course.css``) is added to every page: padded,
  right-aligned output tables, and display equations and long code lines that scroll
  inside the page.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path, PurePosixPath

from sphinx.util import logging

logger = logging.getLogger(__name__)

RESULTS_PAGE = "book/results"
STATIC_FOLDER = Path(__file__).resolve().parents[1] / "_static"  # book/_static
STYLESHEET = "course.css"
EXERCISES = "exercises/"
LESSONS = "lessons/"
WORKERS_VARIABLE = "ECOMREC_BOOK_WORKERS"  # how many lessons execute at once (default: cores)
STATIC_OUTPUT_VARIABLE = "ECOMREC_STATIC_OUTPUT"  # ecomrec.progress: one final line per bar

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


def _workers() -> int:
    configured = os.environ.get(WORKERS_VARIABLE)
    if configured:
        return max(1, int(configured))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _execute(path: str, timeout: int) -> tuple[str, object, float, str | None]:
    """Run one notebook in its own folder (as MyST-NB does); runs in a worker process."""
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    result = single_nb_execution(
        notebook, cwd=str(Path(path).parent), timeout=timeout, allow_errors=False
    )
    error = None if result.err is None else f"{type(result.err).__name__}: {result.err}"
    return path, notebook, time.perf_counter() - start, error


def _execute_lessons_in_parallel(app, env, docnames: list[str]) -> None:
    config = getattr(env, "mystnb_config", None)
    if config is None or config.execution_mode != "cache":
        return
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(config.execution_cache_path)
    stale = []
    for docname in docnames:
        path = Path(env.doc2path(docname))
        if not docname.startswith(LESSONS) or path.suffix != ".ipynb":
            continue
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            stale.append(str(path))
    workers = min(_workers(), len(stale))
    if workers < 2:
        return  # nothing to gain: MyST-NB executes the notebook while reading it
    logger.info(f"executing {len(stale)} lessons, {workers} at a time")
    timeout = int(config.execution_timeout)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_execute, path, timeout) for path in stale]
        for future in as_completed(futures):
            path, notebook, seconds, error = future.result()
            name = os.path.relpath(path, app.srcdir)
            if error is not None:
                logger.info(f"{name}: failed in the parallel run ({error}); MyST-NB reruns it")
                continue
            record = cache.add_nb_to_project(path)
            cache.cache_notebook_bundle(
                CacheBundleIn(notebook, record.uri, data={"execution_seconds": seconds}),
                check_validity=False,
                overwrite=True,
            )
            logger.info(f"{name}: Executed notebook in {seconds:.2f} seconds [in parallel]")


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
    first = cells[0] if cells and cells[0]["cell_type"] == "markdown" else None
    text = "".join(first["source"]) if first else ""
    if text.startswith("# "):  # the box goes right under the title line
        title, _, rest = text.partition("\n")
        first["source"] = title
        rest_cell = {**first, "id": f"{first.get('id', 'title')}-rest", "source": rest}
        cells[1:1] = [cell, rest_cell] if rest.strip() else [cell]
    else:
        cells.insert(0, cell)
    source[0] = json.dumps(notebook)


def _add_static_folder(app, config) -> None:
    if str(STATIC_FOLDER) not in map(str, config.html_static_path):
        config.html_static_path.append(str(STATIC_FOLDER))


def setup(app):
    # Lessons executed for the site print each progress bar as one final line, not a widget
    # frozen mid-run (ecomrec.progress); the kernels inherit this from the build.
    os.environ[STATIC_OUTPUT_VARIABLE] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # and no "Loading weights" bars either
    app.connect("env-before-read-docs", _read_last)
    app.connect("env-before-read-docs", _execute_lessons_in_parallel)
    app.connect("env-get-outdated", _always_reread_results)
    app.connect("source-read", _exercise_box)
    app.connect("config-inited", _add_static_folder)
    app.add_css_file(STYLESHEET)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
