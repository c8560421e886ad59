"""Refuse (or, with --fix, strip) notebook outputs: notebooks are committed clean.

Used by the pre-commit hook; `python tools/clean_notebooks.py --fix lessons/*.ipynb` cleans.
"""

from __future__ import annotations

import argparse
import sys

import nbformat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebooks", nargs="+")
    parser.add_argument("--fix", action="store_true", help="strip outputs in place")
    args = parser.parse_args(argv)
    dirty = []
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        changed = False
        for cell in nb.cells:
            if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
                cell.outputs, cell.execution_count, changed = [], None, True
        if changed:
            dirty.append(path)
            if args.fix:
                nbformat.write(nb, path)
    for path in dirty:
        print(f"{path}: {'outputs stripped' if args.fix else 'has outputs; run with --fix'}")
    return 1 if dirty and not args.fix else 0


if __name__ == "__main__":
    sys.exit(main())
