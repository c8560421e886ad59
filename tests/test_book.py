"""The strict book build: every page in _toc.yml is built, nothing from solutions/ is."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [ch["file"] for ch in part["chapters"]]
    return files


def test_every_toc_page_is_built(built_book):
    for page in _toc_files():
        html = built_book / f"{page}.html"
        assert html.is_file(), f"{page} was not built"
        assert "Traceback" not in html.read_text(), f"{page} shows a Python traceback"


def test_no_solution_is_published(built_book):
    published = [p.relative_to(built_book).as_posix() for p in built_book.rglob("*")]
    assert not [p for p in published if p.startswith("solutions/")]
    for html in built_book.rglob("*.html"):
        text = html.read_text(errors="replace")
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, html


def test_architecture_page_has_the_pipeline_diagram(built_book):
    text = (built_book / "book" / "architecture.html").read_text()
    assert 'class="mermaid"' in text
    assert "flowchart" in text


def test_dataset_page_renders_the_data_card(built_book):
    text = (built_book / "book" / "dataset.html").read_text()
    assert "ShopSim data card" in text
    assert "friendships.csv.gz" in text


def test_lessons_are_executed_with_outputs(built_book):
    for page in _toc_files():
        if page.startswith("lessons/"):
            text = (built_book / f"{page}.html").read_text()
            assert "cell_output" in text, f"{page} has no executed output"
            assert "<img" in text, f"{page} shows no plot"
