"""`course report`: where the class struggles, from a grades.csv written by `course grade`.

Rates are against each question's maximum points (from the source notebook). A written
answer not graded yet (an empty cell in grades.csv) is counted apart, not as a failure,
and students without a notebook that could be graded are listed apart and left out.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pandas as pd  # noqa: E402
from nbgrader import utils  # noqa: E402

from autograder.course import CoursePaths  # noqa: E402

FIXED = ("student_id", "total", "max_total", "status", "reason")
NO_NOTEBOOK = ("missing-notebook", "invalid-notebook")
PANELS_PER_ROW = 4


def question_points(slug: str, paths: CoursePaths) -> dict[str, tuple[float, bool]]:
    """{grade_id: (maximum points, graded by hand)} for every graded cell of the assignment."""
    points = {}
    for path in paths.source_notebooks(slug):
        for cell in nbformat.read(path, as_version=4).cells:
            if utils.is_grade(cell):
                meta = cell.metadata["nbgrader"]
                points[meta["grade_id"]] = (float(meta["points"]), utils.is_solution(cell))
    return points


def write_report(slug: str, grades_csv: Path, out: Path, paths: CoursePaths | None = None) -> Path:
    """Per-question score histograms, failure rates and statuses; returns the page."""
    paths = paths or CoursePaths()
    grades = pd.read_csv(grades_csv, keep_default_na=False, dtype=str)
    points = question_points(slug, paths)
    questions = [c for c in grades.columns if c not in FIXED]
    unknown = [q for q in questions if q not in points]
    if unknown:
        raise ValueError(
            f"{grades_csv} has questions the source of {slug} does not ({', '.join(unknown)}): "
            f"grade again with the current source (`course grade {slug} --force`)"
        )
    out.mkdir(parents=True, exist_ok=True)
    no_notebook = grades[grades["status"].isin(NO_NOTEBOOK)]
    graded = grades[~grades["status"].isin(NO_NOTEBOOK)]
    rows = []
    for q in questions:
        cells = graded[q]
        scored = cells[cells != ""].astype(float)
        below = int((scored < points[q][0]).sum())
        rows.append(
            {
                "question": q,
                "points": points[q][0],
                "manual": points[q][1],
                "scores": scored,
                "mean": scored.mean() if len(scored) else float("nan"),
                "failed": below,
                "rate": below / len(scored) if len(scored) else float("nan"),
                "ungraded": int((cells == "").sum()),
            }
        )

    ncols = min(PANELS_PER_ROW, len(rows))
    nrows = math.ceil(len(rows) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(2.8 * ncols, 2.3 * nrows), squeeze=False, sharey=True
    )
    for ax, row in zip(axes.flat, rows, strict=False):
        top = row["points"]
        ax.hist(row["scores"], bins=[i * top / 8 for i in range(9)], color="tab:blue")
        ax.set_xlim(0, top)
        ax.set_title(f"{row['question']} ({top:g} pt)", fontsize=9)
        ax.tick_params(labelsize=8)
        if row["ungraded"]:
            ax.text(
                0.5,
                0.9,
                f"{row['ungraded']} not graded yet",
                transform=ax.transAxes,
                ha="center",
                fontsize=8,
            )
    for ax in list(axes.flat)[len(rows) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("students", fontsize=9)
    for ax in axes[-1, :]:
        ax.set_xlabel("points", fontsize=9)
    fig.suptitle(f"{slug}: score per question ({len(graded)} students with a notebook)")
    fig.tight_layout()
    fig.savefig(out / "scores.png", dpi=100)
    plt.close(fig)

    rated = [r for r in rows if not math.isnan(r["rate"])]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rated) + 1.4))
    rated_sorted = sorted(rated, key=lambda r: r["rate"])
    ax.barh(
        [r["question"] for r in rated_sorted], [r["rate"] for r in rated_sorted], color="tab:red"
    )
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of graded students below the question's full marks")
    ax.set_title(f"{slug}: failure rate per question")
    fig.tight_layout()
    fig.savefig(out / "failure-rates.png", dpi=100)
    plt.close(fig)

    total = graded["total"].astype(float)
    status = grades["status"].value_counts()
    lines = [
        f"# {slug}: class report",
        "",
        f"{len(grades)} students; {len(graded)} with a notebook that could be graded, mean "
        f"total {total.mean():.2f} of {sum(p for p, _ in points.values()):g}"
        + (f" ({len(total)} students)." if len(total) else "."),
        "",
        "![scores](scores.png)",
        "",
        "![failure rates](failure-rates.png)",
        "",
        "A question fails for a student who scored below its full marks. Written answers not "
        "graded yet are counted apart, not as failures.",
        "",
        "| question | points | graded by | mean | below full marks | not graded yet |",
        "|---|---:|---|---:|---:|---:|",
        *[
            f"| {r['question']} | {r['points']:g} | {'hand' if r['manual'] else 'tests'} | "
            + ("-" if math.isnan(r["mean"]) else f"{r['mean']:.2f}")
            + " | "
            + ("-" if math.isnan(r["rate"]) else f"{r['failed']} ({r['rate']:.0%})")
            + f" | {r['ungraded']} |"
            for r in rows
        ],
        "",
        f"No notebook that could be graded (missing or invalid, left out above): "
        f"{len(no_notebook)} student(s)"
        + (": " + ", ".join(sorted(no_notebook["student_id"])) if len(no_notebook) else "")
        + ".",
        "",
        "| status | students |",
        "|---|---:|",
        *[f"| {s} | {n} |" for s, n in status.items()],
        "",
    ]
    page = out / "report.md"
    page.write_text("\n".join(lines))
    return page
