"""`course`: release, check, grade and report on the course's nbgrader assignments.

    course release [SLUG ...]          regenerate exercises/ from solutions/
    course check [SLUG ...]            does every assignment grade correctly? (make test runs it)
    course grade SLUG --submissions DIR [--out DIR] [--workers N | --cluster ADDRESS]
                 [--timeout S] [--wall S] [--memory MB] [--sandbox MODE] [--cold-kernels]
                 [--force]
    course report SLUG [--grades CSV] [--out DIR]
    course student-copy DEST           the repository for students (no solutions/, no tests/)

Runtime state lives in grading/ (or --workdir, or $ECOMREC_GRADER_WORKDIR); see
grading/README.md. The gradebook is SQLite there unless --db or ECOMREC_GRADEBOOK_URL
gives another SQLAlchemy URL. --db and --workdir go before or after the subcommand.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autograder.course import CoursePaths, assignments
from autograder.limits import GradingLimits

EXIT_FAILED = 1
EXIT_USAGE = 2


def _slugs(requested: list[str], paths: CoursePaths) -> list[str]:
    known = assignments(paths)
    for slug in requested:
        if slug not in known:
            raise SystemExit(f"course: unknown assignment {slug!r}; known: {', '.join(known)}")
    return requested or known


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def cmd_release(args, paths: CoursePaths) -> int:
    from autograder.grading import release

    for slug in _slugs(args.slugs, paths):
        changed = release(slug, paths, args.db)
        print(f"{slug}: " + (f"{len(changed)} file(s) updated" if changed else "up to date"))
        for path in changed:
            print(f"  {path.relative_to(paths.root)}")
    return 0


def cmd_check(args, paths: CoursePaths) -> int:
    from autograder.checks import check_assignment

    rows, failed = [], False
    for slug in _slugs(args.slugs, paths):
        result = check_assignment(slug, paths, sandbox=args.sandbox, site=args.site)
        failed |= not result.ok
        rows.append(result.row())
    print(_table(rows, ["assignment", "in sync", "solution", "release", "leaks", "result"]))
    return EXIT_FAILED if failed else 0


def cmd_grade(args, paths: CoursePaths) -> int:
    from autograder.grading import GradeSettings, grade
    from autograder.sandbox import resolve_mode

    try:
        mode = resolve_mode(args.sandbox)
    except RuntimeError as err:
        raise SystemExit(f"course: {err}") from None
    if mode != "bwrap":
        print(
            "WARNING: bubblewrap is not available; grading with --sandbox rlimit: student code "
            "runs with time and memory limits but CAN read files and use the network. Install "
            "the Debian package `bubblewrap` for the full sandbox.",
            file=sys.stderr,
        )
    try:
        limits = GradingLimits(
            cell_timeout=args.timeout,
            notebook_wall=args.wall,
            memory_mb=args.memory,
            sandbox=mode,
            warm_kernels=not args.cold_kernels,
        )
    except ValueError as err:
        raise SystemExit(f"course: {err}") from None
    settings = GradeSettings(
        workers=args.workers, limits=limits, force=args.force, db_url=args.db, cluster=args.cluster
    )
    out = args.out or paths.grades_dir(args.slug)
    table = grade(args.slug, args.submissions, out, paths, settings)
    counts: dict[str, int] = {}
    for row in table:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    rows = [
        [
            r["student_id"],
            f"{r['total']:g}/{r['max_total']:g}",
            r["status"],
            (r["reason"][:70] + "...") if len(r["reason"]) > 70 else r["reason"],
        ]
        for r in table
    ]
    print(_table(rows, ["student", "score", "status", "reason"]))
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(
        f"\n{len(table)} students: {summary}. Grades: {out / 'grades.csv'}; "
        f"feedback: {out / 'feedback'}/<student>/"
    )
    return 0


def cmd_report(args, paths: CoursePaths) -> int:
    from autograder.report import write_report

    grades = args.grades or paths.grades_dir(args.slug) / "grades.csv"
    if not grades.is_file():
        raise SystemExit(
            f"course: {grades} not found: run `course grade {args.slug}` first or pass --grades"
        )
    out = args.out or grades.parent / "report"
    page = write_report(args.slug, grades, out, paths)
    print(f"report: {page}")
    return 0


def cmd_student_copy(args, paths: CoursePaths) -> int:
    from autograder.student import StudentCopyError, student_copy

    try:
        written = student_copy(args.dest, paths)
    except StudentCopyError as err:
        print(f"course: {err}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"{len(written)} files written to {args.dest}: everything git tracks except the "
        "instructor's (solutions/, tests/, CI). Make it a new repository for students: "
        f"cd {args.dest} && git init && git add -A && git commit -m 'Course for students'"
    )
    return 0


def _global_options(parser: argparse.ArgumentParser, default) -> None:
    """--db and --workdir, valid before the subcommand and after it (`course grade ... --db`).

    The subcommands' copies default to SUPPRESS, so they never overwrite a value given
    before the subcommand."""
    parser.add_argument(
        "--db",
        default=default(os.environ.get("ECOMREC_GRADEBOOK_URL")),
        help="gradebook SQLAlchemy URL (default: $ECOMREC_GRADEBOOK_URL, else SQLite in the "
        "grading folder)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=default(None),
        help="grading folder (default: $ECOMREC_GRADER_WORKDIR, else grading/)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="course", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _global_options(parser, lambda value: value)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, lambda value: argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common])

    p = add("release", "regenerate exercises/ from solutions/")
    p.add_argument("slugs", nargs="*")
    p.set_defaults(func=cmd_release)

    p = add("check", "check that every assignment grades correctly")
    p.add_argument("slugs", nargs="*")
    p.add_argument("--sandbox", default="auto", choices=["auto", "bwrap", "rlimit"])
    p.add_argument(
        "--site",
        type=Path,
        default=None,
        help="built site to search for leaked solutions (default _build/html if it exists)",
    )
    p.set_defaults(func=cmd_check)

    limits = GradingLimits()
    p = add("grade", "autograde every submission of one assignment")
    p.add_argument("slug")
    p.add_argument(
        "--submissions", type=Path, required=True, help="folder of <student_id>/<slug>/*.ipynb"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="grades.csv and feedback go here (default: grading/grades/SLUG)",
    )
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="students graded in parallel"
    )
    p.add_argument(
        "--cluster",
        default=None,
        metavar="ADDRESS",
        help="grade on the workers of this Dask scheduler (tcp://host:8786) instead of "
        "--workers local processes; needs a shared filesystem",
    )
    p.add_argument("--timeout", type=int, default=limits.cell_timeout, help="seconds per cell")
    p.add_argument("--wall", type=int, default=limits.notebook_wall, help="seconds per notebook")
    p.add_argument("--memory", type=int, default=limits.memory_mb, help="MB per kernel")
    p.add_argument("--sandbox", default="auto", choices=["auto", "bwrap", "rlimit"])
    p.add_argument(
        "--cold-kernels",
        action="store_true",
        help="start every kernel as a new Python process, as nbgrader does, instead of "
        "forking it from the worker's pre-imported one (slower; for comparison or trouble)",
    )
    p.add_argument("--force", action="store_true", help="grade again students already graded")
    p.set_defaults(func=cmd_grade)

    p = add("report", "plots of where the class struggles")
    p.add_argument("slug")
    p.add_argument("--grades", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None)
    p.set_defaults(func=cmd_report)

    p = add(
        "student-copy", "write the repository for students: everything but solutions/ and tests/"
    )
    p.add_argument("dest", type=Path, help="a new or empty folder outside the repository")
    p.set_defaults(func=cmd_student_copy)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths = CoursePaths(workdir=args.workdir) if args.workdir else CoursePaths()
    from autograder.grading import CourseError

    try:
        return args.func(args, paths)
    except CourseError as err:
        print(f"course: {err}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
