"""Grade students' submissions of an assignment: the worker processes of `course grade`.

`python -m autograder.worker --serve` is a long-lived worker: it reads one job (a student)
per line on stdin, grades it, builds that student's feedback, writes the result, and
answers one line on stdout; the imports (nbgrader, nbformat, the gradebook's SQLAlchemy) are
paid once per worker instead of once per student. Each student still gets a fresh sandboxed
kernel (see `autograder.execute`), so one student's code never shares a process with
another's. `python -m autograder.worker SLUG STUDENT ...` grades one student and exits.

Never modifies the submission, wherever it is (nbgrader's own `submitted` folder
included): the worker stages a copy in its private state folder (`state/staged/`) and
points nbgrader's autograde at the copy. Whatever goes wrong in a student's notebook ends
here as a status and a reason; the result is written atomically, last (after the
feedback), so a run killed midway simply grades this student again.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import html
import json
import os
import secrets
import shutil
import sys
import time
import traceback
from pathlib import Path

import nbformat
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI

from autograder.course import CoursePaths, nbgrader_config
from autograder.feedback import status_banner
from autograder.guards import is_test_cell
from autograder.limits import GradingLimits
from autograder.zygote import release_imports

# files nbgrader's exchange adds to a submission; `release_feedback` needs both
TIMESTAMP, SECRET = "timestamp.txt", "submission_secret.txt"


def submission_digest(folder: Path) -> str:
    """A hash of every file of a submission: a changed submission is graded again."""
    digest = hashlib.sha256()
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def gradebook_key(db_url: str) -> str:
    """Names the gradebook a result was written to, without storing its password."""
    return hashlib.sha256(db_url.encode()).hexdigest()[:16]


def test_ids(release_notebooks: list[Path]) -> dict[str, set[str]]:
    """The autograded test cells of each notebook of an assignment: {notebook: {grade_id}}."""
    return {
        nb.stem: {
            c.metadata["nbgrader"]["grade_id"]
            for c in nbformat.read(nb, as_version=4).cells
            if is_test_cell(c)
        }
        for nb in release_notebooks
    }


def missing_scores(gb: Gradebook, slug: str, student: str, tests: dict[str, set[str]]) -> list[str]:
    """The autograded tests of `student` with no score in the gradebook (empty when complete)."""
    try:
        submission = gb.find_submission(slug, student)
    except MissingEntry:
        return [f"{nb}/{t}" for nb, ids in tests.items() for t in sorted(ids)]
    scored = {
        (nb.name, g.name)
        for nb in submission.notebooks
        for g in nb.grades
        if g.auto_score is not None or g.manual_score is not None
    }
    return [f"{nb}/{t}" for nb, ids in tests.items() for t in sorted(ids) if (nb, t) not in scored]


def _cells_by_id(nb) -> dict[str, nbformat.NotebookNode]:
    return {
        c.metadata["nbgrader"]["grade_id"]: c
        for c in nb.cells
        if "grade_id" in c.get("metadata", {}).get("nbgrader", {})
    }


def match_notebooks(expected: list[str], folder: Path) -> tuple[dict[str, str], list[str]]:
    """Which file of `folder` to grade as each expected notebook: ({expected: found}, reasons).

    A notebook under its own name is graded; when exactly one expected notebook is absent
    and exactly one other notebook is there ("01-data-and-profiles (1).ipynb", a download
    artefact), that one is graded in its place and the reason says so. An expected notebook
    left without a file is absent from the mapping.
    """
    found = sorted(p.name for p in folder.glob("*.ipynb")) if folder.is_dir() else []
    matched = {name: name for name in expected if name in found}
    missing = [name for name in expected if name not in found]
    others = [name for name in found if name not in expected]
    reasons = []
    if len(missing) == 1 and len(others) == 1:
        matched[missing[0]] = others[0]
        reasons.append(
            f"graded {others[0]!r} as {missing[0]} (the only other notebook in the folder); "
            "keep the file name next time"
        )
    elif missing and others:
        reasons += [
            f"{name} is missing and {len(others)} other notebooks could be it "
            f"({', '.join(repr(o) for o in others)}): submit one notebook named {name}"
            for name in missing
        ]
    else:
        reasons += [f"{name} is missing (no notebook found); keep its name" for name in missing]
    return matched, reasons


def inspect_notebook(release: Path, submitted: Path) -> tuple[str | None, list[str]]:
    """Problems found in one submitted notebook before running it: (status or None, reasons)."""
    try:
        nb = nbformat.read(submitted, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # any parse or schema error means the same to the student
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        return "invalid-notebook", [f"{submitted.name} is not a valid notebook ({first})"]
    reasons = []
    got = _cells_by_id(nb)
    for grade_id, cell in _cells_by_id(nbformat.read(release, as_version=4)).items():
        if not utils.is_locked(cell):
            continue
        if grade_id not in got:
            reasons.append(f"cell {grade_id} was deleted; restored before grading")
        elif got[grade_id].source != cell.source:
            reasons.append(f"locked cell {grade_id} was edited; restored before grading")
    return ("tampered" if reasons else None), reasons


def stage(source: Path, staged: Path, release: list[Path]) -> tuple[int, list, list, dict]:
    """Copy what can be graded from `source` into `staged`.

    Returns (runnable notebooks, statuses, reasons, {expected: submitted name} of renamed
    notebooks). Reads `source` only. The copy always holds a timestamp and a submission
    secret (nbgrader's exchange writes them; a plain folder has none)."""
    shutil.rmtree(staged, ignore_errors=True)  # a previous staged copy, never a submission
    staged.mkdir(parents=True)
    matched, reasons = match_notebooks([r.name for r in release], source)
    statuses = ["missing-notebook"] * (len(release) - len(matched))
    runnable = 0
    for nb in release:
        if nb.name not in matched:
            continue
        status, why = inspect_notebook(nb, source / matched[nb.name])
        reasons += why
        if status:
            statuses.append(status)
        if status != "invalid-notebook":
            shutil.copyfile(source / matched[nb.name], staged / nb.name)
            runnable += 1
    if source.is_dir():  # data files the student's code may read, and the exchange's files
        for path in source.rglob("*"):
            if path.is_file() and path.suffix != ".ipynb":
                dest = staged / path.relative_to(source)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)
    if not (staged / TIMESTAMP).is_file():  # when the newest file was saved
        files = [p for p in source.rglob("*") if p.is_file()] if source.is_dir() else []
        when = max((p.stat().st_mtime for p in files), default=time.time())
        stamp = datetime.datetime.fromtimestamp(when, datetime.UTC)
        (staged / TIMESTAMP).write_text(stamp.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))
    if not (staged / SECRET).is_file():
        (staged / SECRET).write_text(secrets.token_hex(64))
    renames = {name: found for name, found in matched.items() if name != found}
    return runnable, statuses, reasons, renames


def _zero_scores(db_url: str, slug: str, student: str) -> None:
    """Record a submission that could not be run: every autograded question scores 0."""
    with Gradebook(db_url) as gb:
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(slug, student)
        for nb in submission.notebooks:
            for grade in nb.grades:  # what nbgrader itself does for a missing notebook
                grade.auto_score = 0
                grade.needs_manual_grade = False
        gb.db.commit()


def _review_flags(db_url: str, slug: str, student: str) -> dict[tuple[str, str], bool]:
    """`needs_manual_grade` of every question an instructor graded by hand."""
    with Gradebook(db_url) as gb:
        try:
            submission = gb.find_submission(slug, student)
        except MissingEntry:
            return {}
        return {
            (nb.name, g.name): g.needs_manual_grade
            for nb in submission.notebooks
            for g in nb.grades
            if g.manual_score is not None
        }


def _restore_review_flags(db_url: str, slug: str, student: str, flags: dict) -> None:
    """nbgrader's autograde asks for a new review of every manual grade; for a submission
    that did not change since, the manual grade still holds, so put the flags back."""
    if not flags:
        return
    with Gradebook(db_url) as gb:
        for nb in gb.find_submission(slug, student).notebooks:
            for g in nb.grades:
                if (nb.name, g.name) in flags and g.manual_score is not None:
                    g.needs_manual_grade = flags[(nb.name, g.name)]
        gb.db.commit()


def hidden_paths(paths: CoursePaths, submissions: Path) -> list[str]:
    """What a student's kernel must not see: the solutions, the repository's history, the
    grading folder (gradebook, other students), the submissions and the grader itself."""
    return [
        str(p)
        for p in (
            paths.solutions,
            paths.root / ".git",
            paths.workdir,
            submissions.resolve(),
            paths.root / "autograder",
        )
    ]


def warm_up(spec: dict) -> None:
    """Before the first student (while `course grade` updates the gradebook): start this
    worker's zygote with the assignment's imports, and import nbgrader's grading steps."""
    paths = CoursePaths(root=Path(spec["root"]), workdir=Path(spec["workdir"]))
    limits = GradingLimits.from_json(spec["limits"])
    _autograde_preprocessors()
    import nbconvert.exporters.html  # noqa: F401 - the feedback pages' exporter

    if limits.warm_kernels:
        from autograder import zygote
        from autograder.execute import sandbox_policy

        policy = sandbox_policy(limits, hidden_paths(paths, Path(spec["submissions"])))
        try:
            zygote.warm_zygote(policy, release_imports(paths.release_notebooks(spec["slug"])))
        except zygote.ZygoteUnavailable as err:  # the first student's kernel says so again
            print(f"no warm zygote: {err}")


def grade_student(
    slug: str,
    student: str,
    submissions: Path,
    paths: CoursePaths,
    limits: GradingLimits,
    db_url: str | None = None,
) -> dict:
    """Grade one student into the gradebook: their result (status, reason, digests, profile)."""
    started = time.monotonic()
    cfg = nbgrader_config(paths, db_url)
    db = str(cfg.CourseDirectory.db_url)
    source = submissions / student / slug
    digest = submission_digest(source)
    cfg.CourseDirectory.submitted_directory = str(paths.staging_dir(slug))
    staged = paths.staging_dir(slug) / student / slug
    status_dir = paths.status_dir(slug, student)
    shutil.rmtree(status_dir, ignore_errors=True)
    runnable, statuses, reasons, renames = stage(source, staged, paths.release_notebooks(slug))
    profile = {"stage": time.monotonic() - started, "kernel_start": 0.0, "notebook": 0.0}

    previous = load_result(paths, slug, student) or {}
    unchanged = previous.get("digest") == digest and previous.get("gradebook") == gradebook_key(db)
    flags = _review_flags(db, slug, student) if unchanged else {}
    if runnable == 0:
        _zero_scores(db, slug, student)
    else:
        cfg.Autograde.autograde_preprocessors = _autograde_preprocessors()
        cfg.Autograde.sanitize_preprocessors = _sanitize_preprocessors()
        cfg.SandboxedExecute.limits = limits
        cfg.SandboxedExecute.status_dir = str(status_dir)
        cfg.SandboxedExecute.preload = release_imports(paths.release_notebooks(slug))
        cfg.SandboxedExecute.hidden_paths = hidden_paths(paths, submissions)
        api = NbGraderAPI(config=cfg)
        autograde_started = time.monotonic()
        result = api.autograde(slug, student, force=True, create=True)
        profile["autograde"] = time.monotonic() - autograde_started
        if not result.get("success"):
            statuses.append("crashed")
            reasons.append("grading failed: " + _first_error(result))
            _zero_scores(db, slug, student)
        for status_file in sorted(status_dir.glob("*.json")):
            info = json.loads(status_file.read_text())
            seconds = info.get("seconds", {})
            profile["kernel_start"] += seconds.get("kernel_start") or 0.0
            profile["cold_kernels"] = profile.get("cold_kernels", 0) + (not info.get("warm"))
            profile["notebook"] += (seconds.get("run") or 0.0) - (
                seconds.get("kernel_start") or 0.0
            )
            if info["tampering"]:
                statuses.append("tampered")
                reasons += [f"{status_file.stem}: {t}" for t in info["tampering"]]
            events = info["events"]
            if "memory" in events:
                statuses.append("memory")
                reasons.append(
                    f"{status_file.stem}: ran out of memory (limit {limits.memory_mb} MB)"
                )
            elif "dead" in events:
                statuses.append("crashed")
                reasons.append(f"{status_file.stem}: the kernel stopped (crash or os._exit)")
            if "timeout" in events or "wall" in events:
                statuses.append("timeout")
                reasons.append(
                    f"{status_file.stem}: a cell ran past the time limit ({limits.describe_time()})"
                )
    _restore_review_flags(db, slug, student, flags)

    order = ("tampered", "invalid-notebook", "missing-notebook", "memory", "timeout", "crashed")
    status = next((s for s in order if s in statuses), "ok")
    return {
        "student_id": student,
        "assignment": slug,
        "status": status,
        "reason": "; ".join(dict.fromkeys(reasons)),
        "digest": digest,
        "gradebook": gradebook_key(db),
        "renames": renames,
        "seconds": round(time.monotonic() - started, 2),
        "profile": {k: round(v, 3) for k, v in profile.items()},
    }


def build_feedback(slug: str, result: dict, paths: CoursePaths, db_url: str | None) -> None:
    """One student's feedback pages, in nbgrader's feedback folder (what `nbgrader
    release_feedback` sends): the same pages `nbgrader generate_feedback` writes, the grading
    status on top (added by `autograder.feedback.GradingStatus`, one of nbgrader's feedback
    steps, from `result` since the result file is written after the feedback).

    A student with nothing that could run gets one page saying so. A notebook graded under
    another name also gets its page under the name the student submitted, which is the
    name `nbgrader fetch_feedback` looks for."""
    student = result["student_id"]
    cfg = nbgrader_config(paths, db_url)
    cfg.GradingStatus.status = result["status"]
    cfg.GradingStatus.reason = result.get("reason", "")
    cfg.GenerateFeedback.exporter_class = "autograder.feedback.CachedHTMLExporter"
    nbgrader_dir = Path(cfg.CourseDirectory.feedback_directory) / student / slug
    autograded = Path(cfg.CourseDirectory.autograded_directory) / student / slug
    staged = paths.staging_dir(slug) / student / slug
    if list(autograded.glob("*.ipynb")):
        done = NbGraderAPI(config=cfg).generate_feedback(slug, student, force=True)
        if not done.get("success"):
            raise RuntimeError(
                f"nbgrader generate_feedback failed for {student}:\n{done.get('log', '')}"
            )
    else:
        shutil.rmtree(nbgrader_dir, ignore_errors=True)
        nbgrader_dir.mkdir(parents=True)
        for nb in paths.release_notebooks(slug):
            (nbgrader_dir / f"{nb.stem}.html").write_text(
                f"<html><body><h1>{slug}: feedback for {html.escape(student)}</h1>"
                + status_banner(result["status"], result.get("reason", ""))
                + "<p>Nothing could be run, so every autograded question scores 0.</p>"
                "</body></html>"
            )
    for name in (TIMESTAMP, SECRET):  # release_feedback needs both beside the pages
        if not (nbgrader_dir / name).is_file() and (staged / name).is_file():
            shutil.copyfile(staged / name, nbgrader_dir / name)
    for expected, submitted in result.get("renames", {}).items():
        page = nbgrader_dir / f"{Path(expected).stem}.html"
        if page.is_file():
            shutil.copyfile(page, nbgrader_dir / f"{Path(submitted).stem}.html")


def grade_and_record(
    slug: str,
    student: str,
    submissions: Path,
    paths: CoursePaths,
    limits: GradingLimits,
    db_url: str | None = None,
) -> dict:
    """Grade one student, build their feedback, then write their result (last, atomically)."""
    result = grade_student(slug, student, submissions, paths, limits, db_url)
    started = time.monotonic()
    build_feedback(slug, result, paths, db_url)
    result["profile"]["feedback"] = round(time.monotonic() - started, 3)
    write_result(paths, result)
    return result


def _first_error(result: dict) -> str:
    """The most telling line of a failed nbgrader run (the full log is in the worker's log)."""
    text = (result.get("log") or "") + "\n" + (result.get("error") or "")
    print(text)  # into logs/<slug>/<student>.log
    lines = [ln.strip() for ln in text.splitlines()]
    for line in lines:
        if ("Error:" in line or "Exception:" in line) and "NbGraderException" not in line:
            return line[:300]
    return "unknown error (see the worker log)"


def _autograde_preprocessors() -> list:
    """nbgrader's autograde steps, with its Execute replaced by the sandboxed one and its
    metadata check by `CheckCellMetadataOnce`."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    from autograder.execute import SandboxedExecute

    return [
        SandboxedExecute,
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        check_cell_metadata_once(),
    ]


def _sanitize_preprocessors() -> list:
    """The steps nbgrader's autograde runs on a submission before executing it (its own
    list), with the metadata check by `CheckCellMetadataOnce`."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import CheckCellMetadata

    once = check_cell_metadata_once()
    default = Autograde.class_traits()["sanitize_preprocessors"].default()
    return [once if step is CheckCellMetadata else step for step in default]


_ONCE: list = []


def check_cell_metadata_once():
    """nbgrader's CheckCellMetadata, with the nbgrader metadata schema compiled once per
    process: nbgrader checks each cell with `jsonschema.validate`, which first checks the
    schema itself (20 ms a notebook, twice a student). The same checks and errors."""
    if _ONCE:
        return _ONCE[0]
    import jsonschema
    from nbgrader.nbgraderformat import MetadataValidator, ValidationError
    from nbgrader.nbgraderformat.common import (
        BaseMetadataValidator,
        SchemaTooNewError,
        SchemaTooOldError,
    )
    from nbgrader.preprocessors import CheckCellMetadata

    compiled: dict[str, object] = {}

    class CompiledSchema(BaseMetadataValidator):
        def validate_cell(self, cell) -> None:  # BaseMetadataValidator's, compiled once
            if "nbgrader" not in cell.metadata:
                return
            schema = cell.metadata["nbgrader"].get("schema_version", 0)
            if schema < self.schema_version:
                raise SchemaTooOldError(
                    f"Outdated schema version: {schema} (expected {self.schema_version})",
                    schema,
                    self.schema_version,
                )
            if schema > self.schema_version:
                raise SchemaTooNewError(
                    f"Schema version is too new: {schema} (expected {self.schema_version})",
                    schema,
                    self.schema_version,
                )
            key = json.dumps(self.schema, sort_keys=True)
            if key not in compiled:
                cls = jsonschema.validators.validator_for(self.schema)
                cls.check_schema(self.schema)
                compiled[key] = cls(self.schema)
            error = jsonschema.exceptions.best_match(
                compiled[key].iter_errors(cell.metadata["nbgrader"])
            )
            if error is not None:
                raise error

    # MetadataValidator's own checks run first; its super() call reaches CompiledSchema
    Validator = type("CompiledMetadataValidator", (MetadataValidator, CompiledSchema), {})

    class CheckCellMetadataOnce(CheckCellMetadata):
        def preprocess(self, nb, resources):
            try:
                Validator().validate_nb(nb)
            except ValidationError:
                self.log.error(traceback.format_exc())
                msg = "Notebook failed to validate; the nbgrader metadata may be corrupted."
                self.log.error(msg)
                raise ValidationError(msg) from None
            return nb, resources

    _ONCE.append(CheckCellMetadataOnce)
    return CheckCellMetadataOnce


def result_path(paths: CoursePaths, slug: str, student: str) -> Path:
    return paths.results_dir(slug) / f"{student}.json"


def load_result(paths: CoursePaths, slug: str, student: str) -> dict | None:
    try:
        return json.loads(result_path(paths, slug, student).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def write_result(paths: CoursePaths, result: dict) -> Path:
    out = result_path(paths, result["assignment"], result["student_id"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, sort_keys=True))
    os.replace(tmp, out)  # atomic: a killed run never leaves half a result
    return out


def job(
    slug: str,
    student: str,
    submissions: Path,
    paths: CoursePaths,
    limits: GradingLimits,
    db_url: str | None,
    log: Path,
) -> dict:
    """What a worker needs to grade one student, as one line of JSON (see `serve`)."""
    return {
        "slug": slug,
        "student": student,
        "submissions": str(submissions),
        "root": str(paths.root),
        "workdir": str(paths.workdir),
        "db": db_url,
        "limits": limits.to_json(),
        "log": str(log),
    }


def run_job(spec: dict) -> dict:
    paths = CoursePaths(root=Path(spec["root"]), workdir=Path(spec["workdir"]))
    limits = GradingLimits.from_json(spec["limits"])
    return grade_and_record(
        spec["slug"], spec["student"], Path(spec["submissions"]), paths, limits, spec["db"]
    )


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the process that started it dies (a killed
    `course grade` or Dask worker), so an orphan never grades a student that is being
    graded again elsewhere."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the worker still stops at the end of its input


def serve() -> int:
    """Grade jobs from stdin until it closes; one reply line per job on stdout.

    During a job, everything the worker and nbgrader print goes to that student's log
    (`logs/<slug>/<student>.log`); between jobs, to the worker's own stderr."""
    _die_with_parent()
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    own = os.dup(2)
    os.dup2(own, 1)  # a stray print never lands in the reply stream
    from autograder import zygote

    zygote.LOG_FD = own  # warm kernels write to the worker's log, not one student's
    for line in sys.stdin:
        spec = json.loads(line)
        ok = False
        with open(spec["log"], "w") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                if spec.get("warm"):
                    warm_up(spec)
                else:
                    run_job(spec)
                ok = True
            except MissingEntry as err:
                print(f"error: {err}: run `course release` first")
            except Exception:  # recorded by the caller as `crashed`, with this log
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(own, 1)
                os.dup2(own, 2)
        replies.write(json.dumps({"student": spec["student"], "ok": ok}) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--serve"]:
        return serve()
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("slug")
    p.add_argument("student")
    p.add_argument("--submissions", type=Path, required=True)
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--db", default=None)
    p.add_argument("--limits", type=GradingLimits.from_json, required=True, help="JSON")
    a = p.parse_args(argv)
    paths = CoursePaths(workdir=a.workdir)
    grade_and_record(a.slug, a.student, a.submissions, paths, a.limits, a.db)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MissingEntry as err:
        print(f"error: {err}: run `course release` first", file=sys.stderr)
        sys.exit(2)
