"""`course check`: does an assignment grade correctly, through the real grading path?

For each assignment: exercises/ is in sync with solutions/ (a fresh release changes no
file); the solution, submitted as a student's notebook, earns every autograded point;
the untouched release earns none; and no solution line or hidden-test line appears in
exercises/ or in the built site.
"""

from __future__ import annotations

import csv
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader import utils

from autograder.course import CoursePaths
from autograder.grading import GradeSettings, grade, release_drift
from autograder.limits import GradingLimits

REGIONS = (
    ("### BEGIN SOLUTION", "### END SOLUTION"),
    ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
)
MIN_SECRET_LENGTH = 16  # shorter lines ("return x") are too generic to be a leak


@dataclass
class CheckResult:
    slug: str
    drift: list[str] = field(default_factory=list)
    solution: tuple[float, float] = (0.0, 0.0)
    release: tuple[float, float] = (0.0, 0.0)
    leaks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            not self.drift
            and not self.leaks
            and not self.problems
            and self.solution[1] > 0
            and self.solution[0] == self.solution[1]
            and self.release[0] == 0
        )

    def row(self) -> list[str]:
        return [
            self.slug,
            "yes" if not self.drift else f"NO ({', '.join(self.drift)})",
            f"{self.solution[0]:g}/{self.solution[1]:g}",
            f"{self.release[0]:g}/{self.release[1]:g}",
            str(len(self.leaks)),
            "ok" if self.ok else "FAIL " + "; ".join(self.problems + self.leaks[:3]),
        ]


def secret_lines(source_nb: Path) -> set[str]:
    """Lines inside solution and hidden-test regions that appear nowhere else in the source.

    A line that is part of a public line (e.g. an expression a visible test also uses) is not
    secret: the leak check searches pages for it as a substring and would find the public one.
    """
    inside, outside = set(), set()
    nb = nbformat.read(source_nb, as_version=4)
    for cell in nb.cells:
        region = None
        for raw in cell.source.splitlines():
            line = raw.strip()
            starts = [end for begin, end in REGIONS if line.startswith(begin)]
            if starts:
                region = starts[0]
                continue
            if region and line.startswith(region):
                region = None
                continue
            (inside if region else outside).add(line)
    candidates = {ln for ln in inside - outside if len(ln) >= MIN_SECRET_LENGTH}
    return {ln for ln in candidates if not any(ln in public for public in outside)}


def find_leaks(secrets: set[str], places: list[Path]) -> list[str]:
    leaks = []
    for place in places:
        files = [place] if place.is_file() else sorted(p for p in place.rglob("*") if p.is_file())
        for path in files:
            if path.suffix not in (".ipynb", ".html", ".py", ".md", ".txt", ".json"):
                continue
            text = path.read_text(errors="replace")
            if path.suffix == ".ipynb":  # compare cell sources line by line
                nb = nbformat.reads(text, as_version=4)
                lines = {ln.strip() for c in nb.cells for ln in c.source.splitlines()}
                found = secrets & lines
            else:
                unescaped = (
                    re.sub(r"<[^>]+>", "", text)
                    .replace("&quot;", '"')
                    .replace("&#39;", "'")
                    .replace("&gt;", ">")
                    .replace("&lt;", "<")
                    .replace("&amp;", "&")
                )
                found = {s for s in secrets if s in unescaped}
            leaks += [f"{path.name}: {s[:40]}" for s in sorted(found)]
    return leaks


def public_text(paths: CoursePaths, exclude: Path | None = None) -> str:
    """Everything the course publishes on purpose: lessons, other releases, book pages, library.

    A solution line that also appears there (say, `.fit(split.train, data.n_items)`, which
    lesson 01 shows) is not a secret, and finding it on the site is not a leak. `exclude`
    leaves out the assignment's own release, where such a line would be a leak.
    """
    parts = []
    notebooks = [*(paths.root / "lessons").glob("*.ipynb"), *paths.exercises.glob("*/*.ipynb")]
    for path in sorted(notebooks):
        if exclude is not None and path.is_relative_to(exclude):
            continue
        nb = nbformat.read(path, as_version=4)
        parts += [cell.source for cell in nb.cells]
    for pattern in ("book/**/*.md", "ecomrec/**/*.py"):
        parts += [path.read_text(errors="replace") for path in sorted(paths.root.glob(pattern))]
    return "\n".join(parts)


def _submit(notebooks: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for nb in notebooks:
        shutil.copy2(nb, folder / nb.name)


def perfect_submission(source: Path, release: Path) -> nbformat.NotebookNode:
    """The release with every answer cell filled in from the source: a perfect student's file."""
    answers = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in nbformat.read(source, as_version=4).cells
        if utils.is_solution(c)
    }
    nb = nbformat.read(release, as_version=4)
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def _scores(grades_csv: Path) -> dict[str, tuple[float, float, str]]:
    with grades_csv.open() as handle:
        return {
            r["student_id"]: (float(r["total"]), float(r["max_total"]), r["status"])
            for r in csv.DictReader(handle)
        }


def check_assignment(
    slug: str, paths: CoursePaths, sandbox: str = "auto", site: Path | None = None
) -> CheckResult:
    from autograder.sandbox import resolve_mode

    result = CheckResult(slug)
    with tempfile.TemporaryDirectory(prefix=f"ecomrec-check-{slug}-") as tmp:
        tmp = Path(tmp)
        work = CoursePaths(root=paths.root, workdir=tmp / "work")
        result.drift = release_drift(slug, work)
        if result.drift:
            result.problems.append(f"exercises/{slug} is out of date: run `course release {slug}`")
        sources = paths.source_notebooks(slug)
        perfect = tmp / "submissions" / "solution" / slug
        perfect.mkdir(parents=True)
        for release_nb in paths.release_notebooks(slug):
            source_nb = paths.solutions / slug / release_nb.name
            nbformat.write(perfect_submission(source_nb, release_nb), perfect / release_nb.name)
        _submit(paths.release_notebooks(slug), tmp / "submissions" / "untouched" / slug)
        limits = GradingLimits(sandbox=resolve_mode(sandbox))
        settings = GradeSettings(workers=2, limits=limits, progress=False)
        grade(slug, tmp / "submissions", tmp / "out", work, settings)
        scores = _scores(tmp / "out" / "grades.csv")
        manual = _manual_points(sources)
        sol_total, sol_max, sol_status = scores["solution"]
        rel_total, _, rel_status = scores["untouched"]
        result.solution = (sol_total, sol_max - manual)
        result.release = (rel_total, sol_max - manual)
        if sol_status != "ok":
            result.problems.append(f"the solution graded as {sol_status}")
        if rel_status != "ok":
            result.problems.append(f"the untouched release graded as {rel_status}")
        if sol_total != sol_max - manual:
            result.problems.append("the solution does not earn every autograded point")
        if rel_total != 0:
            result.problems.append("the untouched release earns points")
    secrets = set().union(*(secret_lines(nb) for nb in sources)) if sources else set()
    public = public_text(paths, exclude=paths.exercises / slug)
    secrets = {s for s in secrets if s not in public}
    places = [paths.exercises / slug]
    site = site or paths.root / "_build" / "html"
    if site.is_dir():
        places.append(site)
    result.leaks = find_leaks(secrets, places)
    return result


def _manual_points(sources: list[Path]) -> float:
    """Points of manually graded answers (solution cells that are also graded)."""
    total = 0.0
    for path in sources:
        for cell in nbformat.read(path, as_version=4).cells:
            if utils.is_grade(cell) and utils.is_solution(cell):
                total += float(cell.metadata["nbgrader"].get("points", 0))
    return total
