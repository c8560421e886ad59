"""Progress bars: live in JupyterLab, one plain final line on the website.

``tqdm.auto`` draws an ipywidgets bar in a notebook. On the published site that widget is a
snapshot: a bar caught mid-run, or a red one, frozen forever. The book build sets
``ECOMREC_STATIC_OUTPUT=1`` (book/_ext/course_pages.py) before it executes the lessons;
there :func:`tqdm` draws nothing while it runs and prints one plain line to stdout when it
closes (``GRU: 10/10 epochs [00:42, loss=3.1]``), or nothing for a bar made with
``leave=False``. Everywhere else it is ``tqdm.auto.tqdm`` unchanged.

Use it wherever the course shows progress: ``from ecomrec.progress import tqdm``.
"""

from __future__ import annotations

import io
import os
import sys

from tqdm.auto import tqdm as _live_tqdm
from tqdm.std import tqdm as _text_tqdm

STATIC_OUTPUT_VARIABLE = "ECOMREC_STATIC_OUTPUT"


def static_output() -> bool:
    """True while the book build executes the lessons (their outputs become static pages)."""
    return os.environ.get(STATIC_OUTPUT_VARIABLE) == "1"


class _FinalLine(_text_tqdm):
    """A text bar that keeps quiet until it closes, then prints its final state once."""

    def __init__(self, *args, **kwargs):
        kwargs["file"] = io.StringIO()  # the running updates go nowhere
        kwargs.pop("position", None)
        super().__init__(*args, **kwargs)

    def close(self):
        if self.disable:
            return
        if self.leave:
            line = self.format_meter(**{**self.format_dict, "ncols": 0})
            print(line.strip(), file=sys.stdout, flush=True)
        super().close()


def tqdm(*args, **kwargs):
    """``tqdm.auto.tqdm`` in JupyterLab and terminals; one final line in the book build."""
    if static_output():
        return _FinalLine(*args, **kwargs)
    return _live_tqdm(*args, **kwargs)


def trange(n: int, **kwargs):
    """``tqdm(range(n), ...)``."""
    return tqdm(range(n), **kwargs)
