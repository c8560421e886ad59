"""Feedback preprocessing: students see why a test failed, never the hidden test's code."""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor


class ShortTracebacks(NbGraderPreprocessor):
    """In test cells, replace an error's traceback (which quotes the failing test's source,
    hidden tests included) with its one-line message, written for students."""

    def preprocess_cell(self, cell, resources, index):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return cell, resources
