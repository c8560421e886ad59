"""The pages of the book, read from _toc.yml (shared by the book and browser tests)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_pages() -> list[str]:
    """Every page of _toc.yml, in reading order (root first)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())

    def page(name: str) -> str:
        return re.sub(r"\.(md|ipynb|rst)$", "", name)

    pages = [page(toc["root"])]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(page(entry["file"]))
            if "glob" in entry:
                found = sorted(ROOT.glob(entry["glob"] + ".*"))
                pages.extend(page(p.relative_to(ROOT).as_posix()) for p in found)
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key))

    walk([{key: toc[key]} for key in ("parts", "chapters", "sections") if key in toc])
    return list(dict.fromkeys(pages))
