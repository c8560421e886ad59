"""`course report`: where the class struggles, from a grades.csv written by `course grade`."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

FIXED = ("student_id", "total", "max_total", "status", "reason")


def write_report(slug: str, grades_csv: Path, out: Path) -> Path:
    """Per-question score histograms, per-question failure rates and statuses; returns the page."""
    grades = pd.read_csv(grades_csv, keep_default_na=False)
    questions = [c for c in grades.columns if c not in FIXED]
    out.mkdir(parents=True, exist_ok=True)
    ok = grades[grades["status"] != "missing-notebook"]
    best = ok[questions].max() if len(ok) else pd.Series(0.0, index=questions)

    fig, axes = plt.subplots(1, len(questions), figsize=(3.2 * len(questions), 3), squeeze=False)
    for ax, q in zip(axes[0], questions, strict=True):
        ax.hist(grades[q].astype(float), bins=10, color="tab:blue")
        ax.set_title(q, fontsize=9)
        ax.set_xlabel("points")
    axes[0][0].set_ylabel("students")
    fig.suptitle(f"{slug}: score per question")
    fig.tight_layout()
    fig.savefig(out / "scores.png", dpi=110)
    plt.close(fig)

    # a question "fails" for a student who scored below the class's best on it
    failure = pd.Series({q: float((grades[q].astype(float) < best[q]).mean()) for q in questions})
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(questions)), 3.2))
    failure.sort_values().plot.barh(ax=ax, color="tab:red")
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of students below full marks")
    ax.set_title(f"{slug}: failure rate per test")
    fig.tight_layout()
    fig.savefig(out / "failure-rates.png", dpi=110)
    plt.close(fig)

    status = grades["status"].value_counts()
    lines = [
        f"# {slug}: class report",
        "",
        f"{len(grades)} students; mean total {grades['total'].mean():.2f} of "
        f"{grades['max_total'].max():g}.",
        "",
        "![scores](scores.png)",
        "",
        "![failure rates](failure-rates.png)",
        "",
        "| question | mean | best | below best |",
        "|---|---:|---:|---:|",
        *[
            f"| {q} | {grades[q].astype(float).mean():.2f} | {best[q]:g} | {failure[q]:.0%} |"
            for q in questions
        ],
        "",
        "| status | students |",
        "|---|---:|",
        *[f"| {s} | {n} |" for s, n in status.items()],
        "",
    ]
    page = out / "report.md"
    page.write_text("\n".join(lines))
    return page
