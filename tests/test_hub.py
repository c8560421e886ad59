"""The course on a real JupyterHub (`make hub`), one whole assignment cycle, as each user.

`make hub` starts the Hub on 127.0.0.1 with three throwaway local accounts (an instructor and
two students, removed at the end) and a temporary shared folder (the exchange and the
students' copy of the course). Everything then goes through the Hub: its REST API starts each
user's server (as that user) and gives each user a token; the users act through their own
servers, in the Hub's terminals, through nbgrader's server API (what the Assignments panel
calls) and the contents API; two steps go through the Hub's login page in Chromium.

The cycle, on assignment 01: the instructor runs `course release` in a terminal and releases
the assignment with formgrader's Release button (browser); alice logs in (browser), fetches it
from the Assignments panel, answers it (contents API) and submits it from the panel; bob
fetches and submits it untouched (nbgrader's API); the instructor runs `nbgrader collect`,
`course grade` and `nbgrader release_feedback` in a terminal; each student fetches their
feedback and gets their own page. Then, as bob: alice's files, the instructor's solutions/ and
the exchange's submissions and feedback folders are closed to him, on disk and through the Hub.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest
import websocket
from browser import (
    assignment_names,
    find_or_install_chromium,
    headless_chromium,
    loopback_page,
    modal_text,
    open_assignments,
)

from autograder.checks import perfect_submission
from autograder.hub.launch import ACCOUNT_MARK

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.grading]  # not in test-fast

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SLUG = "01-data-and-profiles"
NOTEBOOK = f"{SLUG}.ipynb"
COURSE = "ecomrec"  # nbgrader's course_id
INSTRUCTOR = "hubtest-teacher"
ALICE, BOB = "hubtest-alice", "hubtest-bob"
START_TIMEOUT = 300  # seconds for `make hub` to answer (it copies the course, checks accounts)
SERVER_TIMEOUT = 180  # seconds for a user's server to start
COMMAND_TIMEOUT = 600  # seconds for one terminal command (course grade runs two notebooks)
STEP_TIMEOUT_MS = 90_000
FOREIGN_SETTINGS = ("ECOMREC_GRADER_WORKDIR", "ECOMREC_EXCHANGE", "ECOMREC_GRADEBOOK_URL")
ANSI = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|\][^\x07]*\x07|[()][A-Z0-9])")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _remove_account(name: str) -> None:
    """Remove a leftover test account: only one `make hub` made (its GECOS says so)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return
    if entry.pw_gecos != ACCOUNT_MARK:
        pytest.fail(f"the account {name} exists and was not made by make hub: remove it first")
    subprocess.run(["userdel", "--remove", name], capture_output=True, check=False)


class Hub:
    """`make hub` on free loopback ports, with a service token for the REST API."""

    def __init__(self, base: Path):
        self.base = base
        self.shared, self.state = base / "shared", base / "state"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        token_file = base / "api-token"
        self.token = secrets.token_hex(24)
        token_file.write_text(self.token)
        token_file.chmod(0o600)
        args = [
            f"--port {self.port}",
            f"--hub-port {_free_port()}",
            f"--proxy-api-port {_free_port()}",
            f"--state {self.state}",
            f"--shared {self.shared}",
            f"--instructor {INSTRUCTOR}",
            f"--students '{ALICE} {BOB}'",
            f"--api-token-file {token_file}",
        ]
        env = {k: v for k, v in os.environ.items() if k not in FOREIGN_SETTINGS}
        env["PYTHONPATH"] = str(ROOT)
        self.log = base / "make-hub.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                ["make", "hub", f"BIN={BIN}", "STAMP=", f"HUB_ARGS={' '.join(args)}"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as one below
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.process.poll() is None:
            with contextlib.suppress(OSError):
                if self.call("GET", "/hub/api/")[0] == 200:
                    return
            time.sleep(1)
        self.stop()
        pytest.fail(f"`make hub` did not serve the Hub:\n{self.tail()}", pytrace=False)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def call(self, method: str, path: str, token: str | None = None, body=None, raw=False):
        """(status, answer) of one request to the Hub or, under /user/<name>/, a user's server."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {token or self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                text = response.read().decode()
                return response.status, text if raw or not text else json.loads(text)
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")

    def start_server(self, name: str) -> str:
        """Start `name`'s server through the Hub's API; return a token of `name`'s own."""
        status, answer = self.call("POST", f"/hub/api/users/{name}/server")
        assert status in (201, 202), f"the Hub did not start {name}'s server: {status} {answer}"
        status, answer = self.call(
            "POST", f"/hub/api/users/{name}/tokens", body={"note": "test_hub", "expires_in": 3600}
        )
        assert status == 201, f"no token for {name}: {status} {answer}"
        return answer["token"]

    def wait_ready(self, name: str) -> None:
        deadline = time.monotonic() + SERVER_TIMEOUT
        while time.monotonic() < deadline:
            status, user = self.call("GET", f"/hub/api/users/{name}")
            if status == 200 and user["servers"].get("", {}).get("ready"):
                return
            time.sleep(1)
        pytest.fail(f"{name}'s server did not start:\n{self.tail()}", pytrace=False)

    def run(self, name: str, token: str, command: str) -> tuple[int, str]:
        """Run `command` in a terminal of `name`'s server; return its exit code and output."""
        status, terminal = self.call("POST", f"/user/{name}/api/terminals", token)
        assert status == 200, f"no terminal for {name}: {status} {terminal}"
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{self.port}/user/{name}/terminals/websocket/{terminal['name']}",
            header=[f"Authorization: token {token}"],
            timeout=COMMAND_TIMEOUT,
        )
        output, found = "", None
        try:
            ws.send(json.dumps(["set_size", 50, 500, 800, 5000]))
            ws.send(json.dumps(["stdin", f"{command}; echo __exit=$?__\r"]))
            deadline = time.monotonic() + COMMAND_TIMEOUT
            while found is None and time.monotonic() < deadline:
                message = json.loads(ws.recv())
                if message[0] == "stdout":
                    output += message[1]
                    found = re.search(r"__exit=(\d+)__", output)
        finally:
            ws.close()
            self.call("DELETE", f"/user/{name}/api/terminals/{terminal['name']}", token)
        text = ANSI.sub("", output).replace("\r", "")
        assert found, f"`{command}` as {name} did not finish in {COMMAND_TIMEOUT} s:\n{text}"
        return int(found.group(1)), text

    def nbgrader(self, name: str, token: str, action: str) -> tuple[int, object]:
        """What the Assignments panel's buttons call: fetch, submit, fetch_feedback."""
        query = f"course_id={COURSE}&assignment_id={SLUG}"
        return self.call("POST", f"/user/{name}/assignments/{action}?{query}", token)

    def contents(self, name: str, token: str, path: str, **query) -> tuple[int, object]:
        url = f"/user/{name}/api/contents/{urllib.parse.quote(path)}"
        return self.call("GET", f"{url}?{urllib.parse.urlencode(query)}", token)

    def stop(self) -> None:
        if self.process.poll() is None:
            for name in (INSTRUCTOR, ALICE, BOB):  # servers first, as the Hub would
                with contextlib.suppress(OSError):
                    self.call("DELETE", f"/hub/api/users/{name}/server")
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@contextlib.contextmanager
def _logged_in(browser, hub: Hub, name: str, password: str, report: dict):
    """A fresh browser context logged in through the Hub's login page, on `name`'s lab.
    Requests to any other host are aborted and noted."""
    with loopback_page(browser, hub.url, report, STEP_TIMEOUT_MS) as page:
        page.goto(f"{hub.url}/hub/login")
        page.fill("#username_input", name)
        page.fill("#password_input", password)
        page.click("#login_submit")
        page.wait_for_url(re.compile(rf".*/user/{name}/lab.*"))
        page.wait_for_selector(".jp-LabShell")
        page.wait_for_selector(".lm-MenuBar-itemLabel >> text=Nbgrader")
        yield page


@pytest.fixture(scope="module")
def cycle(tmp_path_factory):
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.fail(
            "tests/test_hub.py must run as root on Linux: make hub creates local accounts and "
            "starts each user's server as that user",
            pytrace=False,
        )
    for name in (INSTRUCTOR, ALICE, BOB):
        _remove_account(name)  # left over by an interrupted run
    base = Path(tempfile.mkdtemp(prefix="ecomrec-hub-test-"))  # not pytest's: mode 700
    base.chmod(0o755)  # every account reaches the shared folder inside
    chromium = find_or_install_chromium()
    seen: dict = {}
    hub = Hub(base)
    try:
        seen["passwords_mode"] = (hub.state / "passwords.txt").stat().st_mode & 0o777
        passwords = dict(
            line.split(" ", 1) for line in (hub.state / "passwords.txt").read_text().splitlines()
        )
        seen["homes"] = {
            n: Path(pwd.getpwnam(n).pw_dir).stat().st_mode & 0o777 for n in (ALICE, BOB)
        }
        tokens = {name: hub.start_server(name) for name in (INSTRUCTOR, ALICE, BOB)}
        for name in tokens:
            hub.wait_ready(name)
        teacher, alice, bob = tokens[INSTRUCTOR], tokens[ALICE], tokens[BOB]
        seen["hub_ports"] = subprocess.run(
            ["ss", "-ltnpH"], capture_output=True, text=True, check=False
        ).stdout

        # the instructor: `course release` in a terminal, then formgrader's Release button
        seen["course_release"] = hub.run(
            INSTRUCTOR, teacher, f"cd ~/ecomrec && course release {SLUG}"
        )
        seen["who"] = {
            n: hub.run(n, t, 'id -un; python -c "import ecomrec; print(ecomrec.__file__)"')
            for n, t in tokens.items()
        }
        with headless_chromium(chromium) as browser:
            with _logged_in(browser, hub, INSTRUCTOR, passwords[INSTRUCTOR], seen) as page:
                page.goto(f"{hub.url}/user/{INSTRUCTOR}/formgrader/manage_assignments")
                row = f"#main-table tr:has(td.name[data-order='{SLUG}'])"
                page.click(f"{row} td.release a")
                seen["release_modal"] = modal_text(page)

            # alice: log in, fetch from the Assignments panel, answer, submit from the panel
            with _logged_in(browser, hub, ALICE, passwords[ALICE], seen) as page:
                seen["alice_course"] = open_assignments(page)
                seen["alice_released"] = assignment_names(page, "released_assignments_list")
                page.click("#released_assignments_list button:text-is('Fetch')")
                page.wait_for_selector(f"#fetched_assignments_list >> text={SLUG}")
                status, fetched = hub.contents(ALICE, alice, f"{SLUG}/{NOTEBOOK}", content=1)
                seen["alice_fetched"] = fetched if status == 200 else (status, fetched)
                answer = perfect_submission(
                    ROOT / "solutions" / SLUG / NOTEBOOK, ROOT / "exercises" / SLUG / NOTEBOOK
                )
                seen["alice_saved"] = hub.call(
                    "PUT",
                    f"/user/{ALICE}/api/contents/{SLUG}/{NOTEBOOK}",
                    alice,
                    body={"type": "notebook", "format": "json", "content": answer},
                )[0]
                page.reload()
                page.wait_for_selector(".jp-LabShell")
                open_assignments(page)
                page.click("#fetched_assignments_list button:text-is('Submit')")
                page.wait_for_selector(f"#submitted_assignments_list >> text={SLUG}")
                seen["alice_submitted"] = assignment_names(page, "submitted_assignments_list")

        # bob, through nbgrader's API: fetch and submit the release untouched
        seen["bob_fetch"] = hub.nbgrader(BOB, bob, "fetch")[0]
        seen["bob_submit"] = hub.nbgrader(BOB, bob, "submit")

        # the instructor collects, grades and releases the feedback, in a terminal
        in_course = "cd ~/ecomrec && "
        seen["collect"] = hub.run(INSTRUCTOR, teacher, in_course + f"nbgrader collect {SLUG}")
        seen["grade"] = hub.run(
            INSTRUCTOR, teacher, in_course + f"course grade {SLUG} --submissions grading/submitted"
        )
        seen["release_feedback"] = hub.run(
            INSTRUCTOR, teacher, in_course + f"nbgrader release_feedback {SLUG}"
        )
        grades_csv = f"ecomrec/grading/grades/{SLUG}/grades.csv"
        status, grades = hub.contents(INSTRUCTOR, teacher, grades_csv, content=1, format="text")
        seen["grades"] = (
            {r["student_id"]: r for r in csv.DictReader(io.StringIO(grades["content"]))}
            if status == 200
            else (status, grades)
        )
        seen["feedback"] = {}
        for name, token in ((ALICE, alice), (BOB, bob)):
            status, answer = hub.nbgrader(name, token, "fetch_feedback")
            found = []  # the feedback pages in the student's home, through the contents API
            code, folders = hub.contents(name, token, f"{SLUG}/feedback")
            for folder in folders["content"] if code == 200 else []:
                listing = hub.contents(name, token, folder["path"])[1]["content"]
                found += [item["path"] for item in listing if item["name"].endswith(".html")]
            page = None
            if len(found) == 1:
                page = hub.contents(name, token, found[0], content=1, format="text")[1]["content"]
            own = hub.contents(
                INSTRUCTOR,
                teacher,
                f"ecomrec/grading/feedback/{name}/{SLUG}/{SLUG}.html",
                content=1,
                format="text",
            )[1]["content"]
            seen["feedback"][name] = {
                "status": status,
                "answer": answer,
                "listing": (code, folders),
                "pages": found,
                "page": page,
                "own": own,
            }

        # bob cannot read alice's files, the instructor's solutions/ or the exchange's folders
        exchange = hub.shared / "exchange" / COURSE
        attempts = {
            "own work": f"cat ~/{SLUG}/{NOTEBOOK} > /dev/null",
            "alice's work": f"cat /home/{ALICE}/{SLUG}/{NOTEBOOK}",
            "alice's home": f"ls /home/{ALICE}",
            "solutions": f"ls /home/{INSTRUCTOR}/ecomrec/solutions",
            "gradebook": f"cat /home/{INSTRUCTOR}/ecomrec/grading/gradebook.db > /dev/null",
            "submissions": f"ls {exchange / 'inbound'}",
            "feedback": f"ls {exchange / 'feedback'}",
            "students' copy": f"ls {hub.shared / 'course' / 'solutions'}",
        }
        seen["bob_reads"] = {what: hub.run(BOB, bob, cmd) for what, cmd in attempts.items()}
        seen["bob_on_alice_server"] = hub.contents(ALICE, bob, "")[0]
        seen["alice_on_teacher_server"] = hub.contents(INSTRUCTOR, alice, "")[0]
        seen["external_requests"] = seen.get("external_requests", [])
    finally:
        hub.stop()
        seen["hub_log"] = hub.log.read_text(errors="replace")
        kept = tmp_path_factory.mktemp("hub")  # root's: the log and what each step saw
        (kept / "seen.json").write_text(json.dumps(seen, indent=1, default=str))
        print(f"test_hub: the Hub's log and each step's result are in {kept / 'seen.json'}")
        for name in (INSTRUCTOR, ALICE, BOB):
            _remove_account(name)
        shutil.rmtree(base, ignore_errors=True)
    return seen


def _ok(result: tuple[int, str]) -> str:
    code, output = result
    assert code == 0, output[-3000:]
    return output


def test_make_hub_serves_only_on_loopback(cycle):
    listening = [
        line.split()[3]
        for line in cycle["hub_ports"].splitlines()
        if "jupyterhub" in line or "node" in line
    ]
    assert listening, cycle["hub_ports"]
    assert all(address.startswith("127.0.0.1:") for address in listening), listening
    assert cycle["homes"] == {ALICE: 0o700, BOB: 0o700}
    assert cycle["passwords_mode"] == 0o600


def test_each_server_runs_as_its_user_with_the_right_course(cycle):
    for name, result in cycle["who"].items():
        lines = _ok(result).splitlines()
        assert name in lines, lines
        library = next(line for line in lines if line.endswith("ecomrec/__init__.py"))
        if name == INSTRUCTOR:
            assert library == f"/home/{INSTRUCTOR}/ecomrec/ecomrec/__init__.py"
        else:
            shared = r"/tmp/ecomrec-hub-test-\w+/shared/course/ecomrec/__init__.py"
            assert re.fullmatch(shared, library), library


def test_instructor_releases_in_a_terminal_and_in_formgrader(cycle):
    _ok(cycle["course_release"])
    assert f"Successfully released '{SLUG}'" in cycle["release_modal"]


def test_student_fetches_and_submits_from_the_panel_after_logging_in(cycle):
    assert cycle["alice_course"] == COURSE
    assert cycle["alice_released"] == [SLUG]
    fetched = nbformat.from_dict(cycle["alice_fetched"]["content"])
    release = nbformat.read(ROOT / "exercises" / SLUG / NOTEBOOK, as_version=4)
    assert [c.source for c in fetched.cells] == [c.source for c in release.cells]
    assert cycle["alice_saved"] == 200
    assert cycle["alice_submitted"] == [SLUG]


def test_second_student_fetches_and_submits_through_the_api(cycle):
    assert cycle["bob_fetch"] == 200
    status, answer = cycle["bob_submit"]
    assert status == 200 and answer["success"] is True, answer
    submitted = [a for a in answer["value"] if a["status"] == "submitted"]
    assert [(a["student_id"], a["assignment_id"]) for a in submitted] == [(BOB, SLUG)], answer


def test_instructor_collects_grades_and_releases_feedback(cycle):
    _ok(cycle["collect"])
    _ok(cycle["grade"])
    _ok(cycle["release_feedback"])
    grades = cycle["grades"]
    assert isinstance(grades, dict), grades
    assert sorted(grades) == [ALICE, BOB]
    assert grades[ALICE]["status"] == grades[BOB]["status"] == "ok", grades
    assert float(grades[ALICE]["total"]) == 10 and float(grades[BOB]["total"]) == 0


def test_each_student_fetches_only_their_own_feedback(cycle):
    feedback = cycle["feedback"]
    assert feedback[ALICE]["own"] != feedback[BOB]["own"]
    for name, got in feedback.items():
        assert got["status"] == 200
        assert len(got["pages"]) == 1, got["pages"]
        assert got["page"] == got["own"], f"{name} got a page that is not their own"
        assert "Grading status: ok" in got["page"]


def test_student_cannot_read_another_student_or_the_instructor(cycle):
    reads = cycle["bob_reads"]
    assert reads["own work"][0] == 0, reads["own work"]
    for what in ("alice's work", "alice's home", "solutions", "gradebook", "submissions"):
        code, output = reads[what]
        assert code != 0 and "Permission denied" in output, (what, output)
    code, output = reads["feedback"]
    assert code != 0 and "Permission denied" in output, output
    code, output = reads["students' copy"]
    assert code != 0 and "No such file or directory" in output, output
    assert cycle["bob_on_alice_server"] in (403, 404), cycle["bob_on_alice_server"]
    assert cycle["alice_on_teacher_server"] in (403, 404), cycle["alice_on_teacher_server"]


def test_hub_needs_nothing_from_the_internet(cycle):
    assert not cycle["external_requests"], cycle["external_requests"]
