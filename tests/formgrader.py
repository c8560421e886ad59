"""Enter a manual grade and comment exactly as formgrader does, without a browser.

Formgrader's "Manually grade" page sends PUT /formgrader/api/grade/<id> and
/formgrader/api/comment/<id>; this calls those handlers' own code (nbgrader's
`GradeHandler.put` and `CommentHandler.put`, unwrapped from their authentication
decorators) against a gradebook, so a test exercises what an instructor's click does.
"""

from __future__ import annotations

import inspect
import json

from nbgrader.api import Gradebook
from nbgrader.server_extensions.formgrader.apihandlers import CommentHandler, GradeHandler


class _Request:
    """The part of a tornado handler that formgrader's PUT handlers use."""

    def __init__(self, gradebook: Gradebook, body: dict):
        self.gradebook, self.body, self.written = gradebook, body, []

    def get_json_body(self) -> dict:
        return self.body

    def write(self, text: str) -> None:
        self.written.append(json.loads(text))


def enter_manual_grade(
    db_url: str, slug: str, student: str, notebook: str, grade_id: str, score: float, comment: str
) -> dict:
    """Give `score` points and `comment` to one question; returns the grade as formgrader shows."""
    with Gradebook(db_url) as gb:
        grade = gb.find_grade(grade_id, notebook, slug, student)
        request = _Request(gb, {"manual_score": score})
        inspect.unwrap(GradeHandler.put)(request, grade.id)
        found = gb.find_comment(grade_id, notebook, slug, student)
        note = _Request(gb, {"manual_comment": comment})
        inspect.unwrap(CommentHandler.put)(note, found.id)
        return request.written[-1]
