"""The course's grading tools (`course`); see autograder/grading.py for the flow.

jsonschema, which nbformat imports to validate notebooks, also imports `rfc3987_syntax` when
it is installed (jupyter-events pulls it in) to check the `iri` string format; that import
builds a parser and took 2.6-4.3 s of every grading process's start. No schema the grader
validates (nbformat's, nbgrader's) uses that format, so the grader's processes mark the
module absent before jsonschema loads: jsonschema then simply has no `iri` checker. A
process that imported jsonschema before `autograder` keeps its checker.
"""

import sys

if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)  # `import rfc3987_syntax` -> ImportError
