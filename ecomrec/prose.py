"""Numbers and claims in a lesson's prose, produced by the run (MyST-NB ``glue``).

A lesson never types a measured number into its Markdown. A code cell computes it and
glues it under a name; the Markdown cites a number with ``{glue:text}`ndcg_gru:.4f``` and a
phrase or sentence (glued as Markdown, so it shows without quotes) with
``{glue:md}`agree_sentence```. A claim ("the two frameworks agree") is glued
from the check that decides it, so the page says what the run shows, and the lesson
records the check so that a test fails when the run no longer supports what the lesson
teaches.

Example:
    >>> claims = Claims()
    >>> text = claims.claim("agree", 0.01 <= 0.07, "agree within the tolerance",
    ...                     "disagree by more than the tolerance", glue_it=False)
    >>> text, claims.as_dict()
    ('agree within the tolerance', {'agree': True})
"""

from __future__ import annotations

from typing import Any

import numpy as np


def glue_value(name: str, value: Any) -> Any:
    """Glue `value` under `name` without displaying it (cite it with ``{glue:text}``).

    NumPy scalars are glued as plain Python numbers: MyST-NB formats ``{glue:text}`name:.3f```
    from the text form, and ``np.float64(0.5)`` is not a number it can read.
    """
    from myst_nb import glue

    if isinstance(value, np.generic):
        value = value.item()
    glue(name, value, display=False)
    return value


def glue_text(name: str, text: str) -> str:
    """Glue a phrase or sentence under `name` as Markdown (cite it with ``{glue:md}``).

    A plain ``str`` would be glued as its repr, quotes included; Markdown shows the text.
    """
    if not isinstance(text, str):
        raise TypeError(f"glue_text({name!r}) takes a str, got {type(text).__name__}")
    from IPython.display import Markdown

    glue_value(name, Markdown(text))
    return text


class Claims:
    """The claims one lesson makes, each glued as the text its check supports.

    ``claim(name, holds, true_text, false_text)`` glues `true_text` when `holds`, else
    `false_text`, and remembers the verdict; ``as_dict()`` goes into the lesson's
    ``record_results`` under ``"claims"``, where the lesson's test asserts each one.
    """

    def __init__(self) -> None:
        self._verdicts: dict[str, bool] = {}

    def claim(
        self, name: str, holds: bool, true_text: str, false_text: str, *, glue_it: bool = True
    ) -> str:
        if name in self._verdicts:
            raise ValueError(f"claim {name!r} is made twice: give each claim its own name")
        verdict = bool(holds)
        self._verdicts[name] = verdict
        text = true_text if verdict else false_text
        if glue_it:
            glue_text(name, text)
        return text

    def as_dict(self) -> dict[str, bool]:
        return dict(self._verdicts)
