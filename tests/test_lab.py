"""JupyterLab with nbgrader on a fresh copy of the course, in a real browser.

The copy holds what a fresh clone holds (the files git tracks or would track; no grading work
folder, no exchange, no my-work/), with its own HOME. In it, `make lab-instructor` and then
`make lab` start one JupyterLab each on 127.0.0.1 with a token, and a headless Chromium
(tests/browser.py) drives them; any request to another host is aborted and counted.

The instructor lab, step by step as an instructor and a student would click: before any
release the Assignments panel reports no error and formgrader offers Release (the course's
configuration created the exchange); formgrader's Release button releases assignment 01; the
panel lists it; Fetch, then Validate on the untouched release lists every visible test and
the written answer as failing; Submit; formgrader's Collect button collects the submission
and formgrader lists it.

The student lab: `make lab` copied the release into my-work/, which the file browser shows
instead of exercises/ and solutions/; no Formgrader, Course List or Create Assignment, in
the menu, the sidebars or the server; the panel lists the released assignment as downloaded
to my-work/; the notebook's Validate button reports the failing tests there, exercises/ is left
as it was, and the panel's Submit hands in the copy in my-work/.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from browser import assignment_names as _items
from browser import headless_chromium, loopback_page
from browser import modal_text as _modal_text
from browser import open_assignments as _open_assignments
from browser import panel_errors as _panel_errors
from nbgrader.utils import get_username, is_grade

from autograder.student import WORK_FOLDER, tracked_files

pytestmark = pytest.mark.browser  # tier: not in `make test-fast`

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SLUG = "01-data-and-profiles"
NOTEBOOK = f"{SLUG}.ipynb"
TOKEN = secrets.token_hex(16)
START_TIMEOUT = 180  # seconds for a lab server to answer
STEP_TIMEOUT_MS = 60_000
VALIDATE_TIMEOUT_MS = 300_000  # Validate runs the whole notebook
# Settings from the person running the tests that would point the copy elsewhere
FOREIGN_SETTINGS = (
    "ECOMREC_GRADER_WORKDIR",
    "ECOMREC_EXCHANGE",
    "ECOMREC_GRADEBOOK_URL",
    "JUPYTER_CONFIG_DIR",
    "JUPYTER_CONFIG_PATH",
    "JUPYTER_DATA_DIR",
    "JUPYTER_RUNTIME_DIR",
    "JUPYTERLAB_SETTINGS_DIR",
    "JUPYTERLAB_WORKSPACES_DIR",
)


def _graded_cells(notebook: Path) -> list[str]:
    """Sources of the graded cells of a release: the visible tests and the written answers.
    Validate on the untouched release must list every one as failing (a written answer still
    reading "YOUR ANSWER HERE" counts as not done)."""
    nb = nbformat.read(notebook, as_version=4)
    return sorted(c.source.strip() for c in nb.cells if is_grade(c))


# ------------------------------------------------------------------------- the servers
@pytest.fixture(scope="module")
def course(tmp_path_factory):
    base = tmp_path_factory.mktemp("lab")
    folder = base / "course"
    for rel in tracked_files(ROOT, untracked=True):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, folder / rel)
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_SETTINGS}
    exchange = base / "exchange"  # not there yet: the course's configuration creates it
    env.update(HOME=str(base / "home"), PYTHONPATH=str(folder), ECOMREC_EXCHANGE=str(exchange))
    # a fresh clone's shell: the virtualenv is not activated (other tests may have put its
    # scripts on this process's PATH; the lab must not depend on that)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != str(BIN))
    (base / "home").mkdir()
    return {"base": base, "folder": folder, "env": env, "exchange": exchange}


class Lab:
    """`make <target>` in the course copy, serving JupyterLab on a free port of 127.0.0.1."""

    def __init__(self, target: str, course: dict):
        self.target, self.folder = target, course["folder"]
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        args = [
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={TOKEN}",
        ]
        if os.geteuid() == 0:
            args.append("--allow-root")
        self.log = course["base"] / f"{target}.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                ["make", target, f"BIN={BIN}", "STAMP=", f"LAB_ARGS={' '.join(args)}"],
                cwd=self.folder,
                env=course["env"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as one below
            )
        self._wait_until_up()

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{sep}token={TOKEN}"

    def status(self, path: str) -> int:
        try:
            with urllib.request.urlopen(self.url(path), timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as err:
            return err.code

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with contextlib.suppress(OSError):
                if self.status("/api/status") == 200:
                    return
            time.sleep(0.5)
        self.stop()
        tail = "\n".join(self.log.read_text().splitlines()[-30:])
        pytest.fail(f"`make {self.target}` did not serve JupyterLab:\n{tail}", pytrace=False)

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module."""
    with headless_chromium() as launched:
        yield launched


def _tab(browser, lab: Lab, report: dict):
    """A fresh browser context on `lab`; requests to any other host are aborted and noted."""
    return loopback_page(browser, lab.base_url, report, STEP_TIMEOUT_MS)


def _open_lab(page, lab: Lab, path: str = "/lab") -> None:
    page.goto(lab.url(path))
    page.wait_for_selector(".jp-LabShell")
    page.wait_for_selector(".lm-MenuBar-itemLabel >> text=Nbgrader")


def _nbgrader_menu(page) -> list[str]:
    page.click(".lm-MenuBar-itemLabel:text-is('Nbgrader')")
    page.wait_for_selector(".lm-Menu")
    items = page.locator(".lm-Menu .lm-Menu-item:visible .lm-Menu-itemLabel").all_inner_texts()
    page.keyboard.press("Escape")
    return items


def _validation(page) -> dict:
    """Read nbgrader's "Validation Results" dialog, then close it."""
    page.wait_for_selector(".jp-Dialog", timeout=VALIDATE_TIMEOUT_MS)
    # nbgrader's dialog: for each failing cell a <div><p>The following cell failed:</p></div>,
    # then the cell's source and its error, each in a <div><pre>
    failed = "div:has(> p:text-is('The following cell failed:')) + div > pre"
    result = {
        "title": page.inner_text(".jp-Dialog-header").strip(),
        "classes": (page.get_attribute(".jp-Dialog-body", "class") or "").split(),
        "failed": page.locator(f".jp-Dialog-body {failed}").all_inner_texts(),
    }
    page.click(".jp-Dialog button.jp-mod-accept")
    return result


def _formgrader_row(page, lab: Lab) -> str:
    page.goto(lab.url("/formgrader/manage_assignments"))
    page.wait_for_selector(f"#main-table td.name[data-order='{SLUG}']")
    return f"#main-table tr:has(td.name[data-order='{SLUG}'])"


# ------------------------------------------------------------------- the instructor lab
@pytest.fixture(scope="module")
def instructor(course, browser):
    """The instructor's session, step by step; what each step showed is kept for the tests."""
    lab = Lab("lab-instructor", course)
    exchange = course["exchange"]
    seen: dict = {"exchange_mode": exchange.stat().st_mode & 0o777 if exchange.is_dir() else None}
    try:
        with _tab(browser, lab, seen) as page:
            _open_lab(page, lab)
            seen["course_before"] = _open_assignments(page)
            seen["errors_before"] = _panel_errors(page)

            row = _formgrader_row(page, lab)
            seen["exchange_warning"] = page.locator("#warning-exchange").count()
            seen["release_button"] = page.locator(f"{row} td.release a").count()
            page.click(f"{row} td.release a")
            seen["release_modal"] = _modal_text(page)
            row = _formgrader_row(page, lab)
            seen["status_after_release"] = page.inner_text(f"{row} td.status").strip()

            _open_lab(page, lab)
            seen["course_after"] = _open_assignments(page)
            seen["errors_after"] = _panel_errors(page)
            seen["released"] = _items(page, "released_assignments_list")

            page.click("#released_assignments_list button:text-is('Fetch')")
            page.wait_for_selector(f"#fetched_assignments_list >> text={SLUG}")
            page.click("#fetched_assignments_list a.assignment-notebooks-link")
            page.click("#fetched_assignments_list .nested_list_item button:text-is('Validate')")
            seen["validation"] = _validation(page)

            page.click("#fetched_assignments_list button:text-is('Submit')")
            page.wait_for_selector(f"#submitted_assignments_list >> text={SLUG}")
            seen["submitted"] = _items(page, "submitted_assignments_list")

            row = _formgrader_row(page, lab)
            page.click(f"{row} td.collect a")
            seen["collect_modal"] = _modal_text(page)
            page.goto(lab.url(f"/formgrader/manage_submissions/{SLUG}"))
            page.wait_for_selector("#main-table td.student-id")
            seen["submissions"] = page.locator("#main-table td.student-id").all_inner_texts()
            seen["submission_status"] = page.locator("#main-table td.status").all_inner_texts()
    finally:
        lab.stop()
    return seen


def test_the_configuration_creates_the_exchange(instructor):
    assert instructor["exchange_mode"] == 0o777, "no world-writable exchange folder"


def test_fresh_clone_assignments_panel_shows_no_error(instructor):
    assert instructor["course_before"] == "No courses found.", instructor["course_before"]
    assert not instructor["errors_before"], instructor["errors_before"]


def test_fresh_clone_formgrader_offers_release(instructor):
    assert instructor["exchange_warning"] == 0, "formgrader says the exchange is missing"
    assert instructor["release_button"] == 1, "formgrader has no Release button for assignment 01"
    assert f"Successfully released '{SLUG}'" in instructor["release_modal"]
    assert instructor["status_after_release"] == "released"


def test_assignments_panel_lists_the_released_assignment(instructor):
    assert instructor["course_after"] == "ecomrec"
    assert not instructor["errors_after"], instructor["errors_after"]
    assert instructor["released"] == [SLUG]


def test_validate_lists_every_visible_test_of_the_untouched_release(instructor):
    result = instructor["validation"]
    assert result["title"] == "Validation Results"
    assert "validation-failed" in result["classes"], result
    graded = _graded_cells(ROOT / "exercises" / SLUG / NOTEBOOK)
    assert graded, "assignment 01 has no graded cell"
    assert sorted(text.strip() for text in result["failed"]) == graded


def test_formgrader_lists_the_collected_submission(instructor):
    assert instructor["submitted"] == [SLUG]
    assert "Successfully collected submissions" in instructor["collect_modal"]
    assert instructor["submissions"] == [get_username()]
    assert instructor["submission_status"] == ["needs autograding"]


def test_instructor_lab_needs_nothing_from_the_internet(instructor):
    assert not instructor["external_requests"], instructor["external_requests"]


# ---------------------------------------------------------------------- the student lab
@pytest.fixture(scope="module")
def student(course, browser, instructor):
    """The student's session, after the instructor's (assignment 01 is in the exchange)."""
    folder = course["folder"]
    release = (folder / "exercises" / SLUG / NOTEBOOK).read_bytes()
    lab = Lab("lab", course)
    seen: dict = {"make_output": lab.output()}
    try:
        with _tab(browser, lab, seen) as page:
            _open_lab(page, lab)
            page.wait_for_selector(".jp-DirListing-itemText >> text=lessons")
            seen["listing"] = page.locator(".jp-DirListing-itemText").all_inner_texts()
            seen["menu"] = _nbgrader_menu(page)
            seen["create_assignment"] = page.locator("text=Create Assignment").count()
            seen["course"] = _open_assignments(page)
            seen["errors"] = _panel_errors(page)
            seen["fetched"] = _items(page, "fetched_assignments_list")

            page.goto(lab.url(f"/lab/tree/{WORK_FOLDER}/{SLUG}/{NOTEBOOK}"))
            page.wait_for_selector(".jp-Notebook .jp-Cell")
            page.wait_for_selector(".jp-NotebookPanel-toolbar .validate-button")
            seen["notebook_create_assignment"] = page.locator("text=Create Assignment").count()
            page.click(".jp-NotebookPanel-toolbar .validate-button")
            seen["validation"] = _validation(page)

            _open_lab(page, lab)
            _open_assignments(page)
            page.click("#fetched_assignments_list button:text-is('Submit')")
            page.wait_for_selector(f"#submitted_assignments_list >> text={SLUG}")
        seen["formgrader_status"] = lab.status("/formgrader")
        seen["course_list_status"] = lab.status("/formgraders")
    finally:
        lab.stop()
    work = folder / WORK_FOLDER / SLUG / NOTEBOOK
    seen["work_release"] = work.is_file()
    inbound = sorted((course["exchange"] / "ecomrec" / "inbound").glob(f"*+{SLUG}+*/{NOTEBOOK}"))
    seen["handed_in_from_my_work"] = bool(inbound) and inbound[-1].read_bytes() == work.read_bytes()
    seen["exercises_unchanged"] = (folder / "exercises" / SLUG / NOTEBOOK).read_bytes() == release
    return seen


def test_make_lab_puts_the_exercises_in_my_work(student):
    assert f"{WORK_FOLDER}/{SLUG}/{NOTEBOOK}" in student["make_output"]
    assert student["work_release"]
    assert WORK_FOLDER in student["listing"]
    assert "lessons" in student["listing"]
    assert "exercises" not in student["listing"], student["listing"]
    assert "solutions" not in student["listing"], student["listing"]


def test_student_lab_has_no_instructor_tools(student):
    assert student["menu"] == ["Assignment List"], student["menu"]
    assert student["create_assignment"] == 0
    assert student["notebook_create_assignment"] == 0
    assert student["formgrader_status"] == 404
    assert student["course_list_status"] == 404


def test_student_panel_lists_the_release_in_my_work(student):
    assert student["course"] == "ecomrec"
    assert not student["errors"], student["errors"]
    assert student["fetched"] == [SLUG]


def test_student_validate_reports_the_failing_tests_and_leaves_exercises_alone(student):
    result = student["validation"]
    assert "validation-failed" in result["classes"], result
    graded = _graded_cells(ROOT / "exercises" / SLUG / NOTEBOOK)
    assert sorted(text.strip() for text in result["failed"]) == graded
    assert student["exercises_unchanged"], "Validate in the student lab changed exercises/"


def test_student_submit_hands_in_the_copy_in_my_work(student):
    assert student["handed_in_from_my_work"]


def test_student_lab_needs_nothing_from_the_internet(student):
    assert not student["external_requests"], student["external_requests"]
