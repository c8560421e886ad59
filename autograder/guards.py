"""Detect a submission that tampers with what the tests rely on.

Before the first cell and before every test cell, grading inserts a guard cell. Each
guard prints a fingerprint: the identity of the helpers tests use (numpy's comparison
functions, numpy.testing, math.isclose, builtins, the names tests use from the
notebook's namespace) and of IPython's own hooks (input and AST transformers,
showtraceback). The grader, outside the sandbox, compares every fingerprint with the
first one. A change means student code replaced a helper (say
`np.allclose = lambda *a, **k: True`): every test cell after the change earns no points
and the submission is marked `tampered`.

This stops the tampering a student can do with a line or two of Python. It cannot stop
an attacker who takes over the kernel's whole execution machinery, which is why the
kernel also runs sandboxed and why flagged submissions deserve a human look (see the
instructor guide).
"""

from __future__ import annotations

import json

import nbformat
from nbgrader import utils

MARKER = "__ECOMREC_GUARD__"
# errors the grader itself records on cells it did not run (dead kernel, time used up)
NOT_RUN = ("DeadKernelError", "CellTimeoutError")
GUARD_ID = "ecomrec-guard"

# Runs inside the student's kernel; leaves nothing behind in the user namespace.
GUARD_SOURCE = f"""\
def __ecomrec_guard():
    import builtins, json, math, sys
    import numpy, numpy.testing
    from IPython import get_ipython

    ip = get_ipython()
    fp = {{}}
    for n in ("abs", "all", "any", "bool", "float", "int", "isinstance", "len", "max", "min",
              "print", "range", "round", "set", "sorted", "sum", "AssertionError", "__import__"):
        fp["builtins." + n] = id(getattr(builtins, n, None))
    fp["math.isclose"] = id(math.isclose)
    for n in ("allclose", "isclose", "array_equal", "array", "asarray", "all", "any", "abs",
              "sort", "argsort", "log2", "mean", "ndarray"):
        fp["numpy." + n] = id(getattr(numpy, n, None))
    for n in dir(numpy.testing):
        if n.startswith("assert"):
            fp["numpy.testing." + n] = id(getattr(numpy.testing, n))
    # names tests take from the notebook's namespace: fine when absent, the real thing,
    # or not callable (a student's `sum = 0` breaks tests honestly); else a replacement
    modules = {{"np": "numpy", "pd": "pandas", "math": "math"}}
    for n in ("np", "math", "pd", "abs", "len", "isinstance", "float", "int", "round", "sum",
              "min", "max", "all", "any", "sorted", "print", "range", "AssertionError"):
        value = ip.user_ns.get(n, None) if ip is not None else None
        real = sys.modules.get(modules[n]) if n in modules else getattr(builtins, n)
        fp["user_ns." + n] = 0 if value is None or value is real or not callable(value) else 1
    if ip is not None:
        fp["ipython.showtraceback"] = id(type(ip).showtraceback)
        fp["ipython.run_cell"] = id(type(ip).run_cell)
        fp["ipython.instance_overrides"] = sorted(
            k for k in ("showtraceback", "run_cell", "run_ast_nodes", "run_code") if k in vars(ip))
        tm = ip.input_transformer_manager
        fp["ipython.input_transformers"] = [len(ip.input_transformers_cleanup),
            len(tm.cleanup_transforms), len(tm.line_transforms), len(tm.token_transformers)]
        fp["ipython.ast_transformers"] = len(ip.ast_transformers)
        fp["ipython.events"] = [len(ip.events.callbacks.get(e, []))
            for e in ("pre_execute", "pre_run_cell", "post_execute", "post_run_cell")]
    print({MARKER!r} + json.dumps(fp))


__ecomrec_guard()
del __ecomrec_guard
"""


def guard_cell() -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(GUARD_SOURCE)
    cell.metadata[GUARD_ID] = True
    return cell


def is_guard(cell) -> bool:
    return bool(cell.get("metadata", {}).get(GUARD_ID))


def is_test_cell(cell) -> bool:
    """An autograded test: a graded code cell that is not the student's answer."""
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def insert_guards(nb: nbformat.NotebookNode) -> None:
    """A guard before the first cell and before every test cell (in place)."""
    cells = [guard_cell()]
    for cell in nb.cells:
        if is_test_cell(cell):
            cells.append(guard_cell())
        cells.append(cell)
    nb.cells = cells


def fingerprint(cell) -> dict | None:
    """The fingerprint a guard cell printed, or None if it printed none (or a forged one)."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            for line in out.get("text", "").splitlines():
                if line.startswith(MARKER):
                    try:
                        return json.loads(line[len(MARKER) :])
                    except json.JSONDecodeError:
                        return None
    return None


def check_and_remove_guards(nb: nbformat.NotebookNode) -> list[str]:
    """Remove the guard cells; fail every test cell after a changed fingerprint (in place).

    Returns the reasons (empty when nothing was tampered with). A test cell is failed by
    appending an error output, which nbgrader scores as zero.

    A guard that raised MemoryError (the student's code left no memory for it) is no sign
    of tampering, but it could not check either: the tests up to the next guard that does
    report earn no points, and the kernel's MemoryError gives the submission its status.
    """
    reference: dict | None = None
    problems: list[str] = []
    tampered = False
    unchecked = False  # the last guard ran out of memory before it could report
    kept = []
    for cell in nb.cells:
        if is_guard(cell):
            errors = [
                o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"
            ]
            not_run = any(e in NOT_RUN for e in errors)
            executed = not not_run and (
                bool(cell.get("outputs")) or cell.get("execution_count") is not None
            )
            fp = fingerprint(cell)
            unchecked = executed and fp is None and "MemoryError" in errors
            if reference is None:
                reference = fp
            elif unchecked:
                pass
            elif executed and fp is None:
                tampered = True
                problems.append("a tamper check printed nothing: output or execution was hijacked")
            elif executed and fp != reference and reference is not None:
                changed = sorted(
                    k for k in set(fp) | set(reference) if fp.get(k) != reference.get(k)
                )
                tampered = True
                problems.append("replaced before a test: " + ", ".join(changed))
            continue
        if unchecked and not tampered and is_test_cell(cell):
            cell.outputs.append(
                nbformat.v4.new_output(
                    "error",
                    ename="MemoryError",
                    evalue="the kernel was out of memory before this test, so the test could "
                    "not be checked for tampering; no points",
                    traceback=["MemoryError: out of memory before this test; no points"],
                )
            )
        if tampered and is_test_cell(cell):
            cell.outputs.append(
                nbformat.v4.new_output(
                    "error",
                    ename="TamperedError",
                    evalue="test helpers were replaced by code in this notebook; no points",
                    traceback=["TamperedError: " + "; ".join(problems)],
                )
            )
        kept.append(cell)
    nb.cells = kept
    return list(dict.fromkeys(problems))
