"""The strict book build: every page in _toc.yml is built, nothing from solutions/ is."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from toc import toc_pages

from ecomrec.results import load_results, measured_on

ROOT = Path(__file__).resolve().parents[1]


def _text(html: Path) -> str:
    """The visible text of a page, roughly: tags removed, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html.read_text()).split())


def test_every_toc_page_is_built(built_book):
    for page in toc_pages():
        html = built_book / f"{page}.html"
        assert html.is_file(), f"{page} was not built"
        assert "Traceback" not in html.read_text(), f"{page} shows a Python traceback"


def test_architecture_page_has_the_pipeline_diagram(built_book):
    text = (built_book / "book" / "architecture.html").read_text()
    assert 'class="mermaid"' in text
    assert "flowchart" in text


def test_dataset_page_renders_the_data_card(built_book):
    text = (built_book / "book" / "dataset.html").read_text()
    assert "ShopSim data card" in text
    assert "friendships.csv.gz" in text


def test_lessons_are_executed_with_outputs(built_book):
    for page in toc_pages():
        if page.startswith("lessons/"):
            text = (built_book / f"{page}.html").read_text()
            assert 'class="cell_output' in text, f"{page} has no executed output"
            assert "<img" in text, f"{page} shows no plot"


def test_every_lesson_and_exercise_is_in_the_toc():
    pages = set(toc_pages())
    for nb in sorted((ROOT / "lessons").glob("*.ipynb")):
        assert f"lessons/{nb.stem}" in pages, f"add lessons/{nb.stem} to _toc.yml"
    for folder in sorted((ROOT / "exercises").iterdir()):
        if folder.is_dir():
            page = f"exercises/{folder.name}/{folder.name}"
            assert page in pages, f"add {page} to _toc.yml (under Exercises)"


def test_exercise_pages_are_the_released_notebooks_with_a_download_link(built_book):
    for page in toc_pages():
        if not page.startswith("exercises/"):
            continue
        html = built_book / f"{page}.html"
        text = html.read_text()
        assert "Work on this exercise in JupyterLab" in text, f"{page} lacks its instructions"
        assert "NotImplementedError" in text, f"{page} should show the student's stubs"
        assert 'class="cell_output' not in text, f"{page} must not be executed"
        links = re.findall(r'href="([^"]*_downloads/[^"]+\.ipynb)"', text)
        assert links, f"{page} has no download link"
        downloaded = (html.parent / links[0]).resolve()
        released = ROOT / f"{page}.ipynb"
        assert downloaded.read_bytes() == released.read_bytes(), (
            f"{page}'s download is not the released notebook"
        )


def test_results_page_shows_every_lessons_recorded_numbers(built_book):
    text = _text(built_book / "book" / "results.html")
    interest = load_results("02-interest-modeling")
    graph = load_results("04-graph-relations")
    generation = load_results("03-description-generation")
    for number in (
        interest["models"]["gru"]["expected_ndcg@10"],
        interest["models"]["oracle"]["expected_ndcg@10"],
        interest["models"]["co-occurrence"]["ndcg@10"],
        graph["headline"]["gcn_auc"],
        graph["headline"]["mlp_auc"],
        generation["oracle"]["bleu4"],
    ):
        assert f"{number:.3f}" in text, f"the results page does not show {number:.3f}"
    slugs = [nb.stem for nb in sorted((ROOT / "lessons").glob("*.ipynb"))]
    for slug in slugs:
        info = measured_on(slug)
        assert info is not None, f"{slug} recorded no machine description"
        assert info["when"] in text, f"the results page does not say when {slug} ran"
    html = (built_book / "book" / "results.html").read_text()
    assert "not recorded</td>" not in html, "a lesson's machine or time is missing"
    glance = html[html.index('id="at-a-glance"') :]
    body = glance[glance.index("<tbody>") : glance.index("</tbody>")]
    assert body.count("<tr>") == len(slugs), "the at-a-glance table needs one row per lesson"
    assert html.count("<img") >= 4, "the results page should show its plots"


def test_references_page_cites_the_papers_behind_the_models(built_book):
    text = _text(built_book / "book" / "references.html")
    for paper in (
        "Session-based Recommendations",
        "Self-Attentive Sequential",
        "LightGCN",
        "Generative Adversarial Nets",
        "Graph Convolutional Networks",
        "BPR",
    ):
        assert paper in text, f"references page lacks {paper}"
    assert "arxiv.org/abs/" in (built_book / "book" / "references.html").read_text()


def test_lesson_pages_have_download_repository_and_launch_buttons(built_book):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    binder = config["launch_buttons"]["binderhub_url"]
    text = (built_book / "lessons" / "02-interest-modeling.html").read_text()
    assert "_sources/lessons/02-interest-modeling.ipynb" in text, "no .ipynb download button"
    assert config["repository"]["url"] in text, "no repository button"
    if binder:
        assert f"{binder}/v2/gh/" in text, "no Binder launch button"


def test_pages_workflow_builds_with_make_book_and_deploys():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    build = workflow["jobs"]["build"]
    commands = " ".join(step.get("run", "") for step in build["steps"])
    assert "make book" in commands
    uses = [step.get("uses", "") for step in build["steps"]]
    assert any(u.startswith("actions/setup-python") for u in uses)
    assert any(u.startswith("actions/setup-node") for u in uses), "Node gives offline assets"
    assert any(u.startswith("actions/upload-pages-artifact") for u in uses)
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages"))
    assert upload["with"]["path"] == "_build/html"
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in deploy["steps"])
    assert workflow["permissions"]["pages"] == "write"
    # PyYAML reads the bare key `on` as True
    triggers = workflow.get("on", workflow.get(True))
    assert "main" in triggers["push"]["branches"]


def test_tests_workflow_runs_make_test_and_keeps_the_screenshots():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "tests.yml").read_text())
    steps = workflow["jobs"]["test"]["steps"]
    assert any("make test" in step.get("run", "") for step in steps)
    kept = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact")]
    assert kept and "_build/screenshots" in kept[0]["with"]["path"]
