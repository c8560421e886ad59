"""`make hub`: a JupyterHub for the course on this machine, on 127.0.0.1 only.

Run as root (it creates accounts and starts each user's server as that user). In order:

1. the proxy: configurable-http-proxy, pinned in autograder/hub/package-lock.json, installed
   with `npm ci` into `.hub/node_modules` (again only when the lock file changes);
2. the accounts: a local system account for the instructor and each student, created when
   missing (home folder mode 700), with a random password written to `<state>/passwords.txt`
   (readable by root only); an account that already exists is used as it is;
3. the shared folder (`--shared`, default /srv/ecomrec), readable by every account:
   `exchange/`, nbgrader's exchange (mode 1777; its `ecomrec/` course folder belongs to the
   instructor), and `course/`, the students' copy of the course (`course student-copy`: no
   solutions/, no tests/), which students' servers import the course library from;
4. the instructor's course: a copy of this repository in `~<instructor>/ecomrec`, owned by the
   instructor (kept as it is when it exists: it holds their gradebook and grading work);
5. the course environment for every account: this virtualenv, or, when its Python lives in a
   folder other accounts cannot enter, a virtualenv in <shared>/env made from a copy of that
   Python and using this one's packages; then a check that every account can run it with
   JupyterHub, nbgrader and the course library, and a warning when every account can read this
   repository's solutions/;
6. JupyterHub itself, with autograder/hub/jupyterhub_config.py, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PROXY_DIR = ROOT / ".hub"  # project-local node_modules for configurable-http-proxy
PROXY_VERSION = json.loads((HERE / "package.json").read_text())["dependencies"][
    "configurable-http-proxy"
]
NODE_MAJOR = 20  # configurable-http-proxy 5 needs Node.js 20 or newer
ACCOUNT_MARK = "ecomrec hub account"  # the GECOS field of the accounts `make hub` creates
USERNAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
COURSE_FOLDER = "ecomrec"  # the instructor's copy of the course, in their home
SETTINGS_ENV = "ECOMREC_HUB_SETTINGS"  # where jupyterhub_config.py finds the settings


class HubError(RuntimeError):
    """The Hub cannot start; the message says why and what to do."""


@dataclass
class HubSettings:
    """What jupyterhub_config.py needs, written by `make hub` to <state>/settings.json."""

    state: str
    shared: str
    instructor: str = "instructor"
    students: list[str] = field(default_factory=lambda: ["student1", "student2"])
    port: int = 8000
    hub_port: int = 8081
    proxy_api_port: int = 8001
    bin: str = str(Path(sys.executable).parent)  # the scripts users' servers run from
    prefix: str = sys.prefix  # the course environment: its Jupyter extensions and kernels
    proxy: str = str(PROXY_DIR / "node_modules" / ".bin" / "configurable-http-proxy")
    api_token_file: str | None = None

    @property
    def exchange(self) -> Path:
        return Path(self.shared) / "exchange"

    @property
    def student_course(self) -> Path:
        return Path(self.shared) / "course"

    @property
    def accounts(self) -> list[str]:
        return [self.instructor, *self.students]

    @property
    def passwords(self) -> Path:
        return Path(self.state) / "passwords.txt"

    def save(self) -> Path:
        path = Path(self.state) / "settings.json"
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> HubSettings:
        return cls(**json.loads(Path(path).read_text()))


def home_of(name: str) -> Path:
    return Path(pwd.getpwnam(name).pw_dir)


def instructor_course(settings: HubSettings) -> Path:
    return home_of(settings.instructor) / COURSE_FOLDER


def user_environment(settings: HubSettings, name: str) -> dict[str, str]:
    """The environment of `name`'s server and kernels: the course environment's scripts on
    PATH, the course library on PYTHONPATH, the course's Jupyter configuration, the exchange.
    The instructor works in their own copy of the course; students import the students'
    copy, which has no solutions/, and get the student lab's configuration."""
    env = {
        "PATH": os.pathsep.join([settings.bin, "/usr/local/bin", "/usr/bin", "/bin"]),
        "VIRTUAL_ENV": str(Path(settings.bin).parent),
        "ECOMREC_EXCHANGE": str(settings.exchange),
    }
    if name == settings.instructor:
        course = instructor_course(settings)
        config = [course / "autograder"]
    else:
        course = settings.student_course
        config = [
            course / "autograder" / "hub" / "student",
            course / "autograder" / "student-lab",
            course / "autograder",
        ]
    # the course environment's own Jupyter settings and files (which server extensions to
    # load, JupyterLab's assets, the kernel), also when the server runs from <shared>/env
    prefix = Path(settings.prefix)
    config.append(prefix / "etc" / "jupyter")
    env["JUPYTER_PATH"] = str(prefix / "share" / "jupyter")
    env["JUPYTERLAB_DIR"] = str(prefix / "share" / "jupyter" / "lab")
    env["PYTHONPATH"] = str(course)
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(str(p) for p in config)
    return env


# ------------------------------------------------------------------------------ the proxy
def find_or_install_proxy() -> Path:
    """configurable-http-proxy from .hub/node_modules, installed with `npm ci` when missing."""
    proxy = PROXY_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
    lock = (HERE / "package-lock.json").read_bytes()
    installed = PROXY_DIR / "package-lock.json"
    if proxy.exists() and installed.is_file() and installed.read_bytes() == lock:
        return proxy
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        raise HubError(
            f"JupyterHub's proxy, configurable-http-proxy {PROXY_VERSION}, is installed with "
            f"npm, and {'node' if not node else 'npm'} is not on PATH. Install Node.js "
            f"{NODE_MAJOR} or newer with npm (Debian 13: apt-get install nodejs npm; Debian 12's "
            f"nodejs is 18, too old: use the NodeSource packages for Node.js {NODE_MAJOR}), then "
            "run make hub again; it installs the proxy into .hub/node_modules"
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    major = re.match(r"v(\d+)", version)
    if not major or int(major.group(1)) < NODE_MAJOR:
        raise HubError(
            f"configurable-http-proxy {PROXY_VERSION} needs Node.js {NODE_MAJOR} or newer; "
            f"{node} is {version or 'of unknown version'}: install a newer Node.js and run "
            "make hub again"
        )
    PROXY_DIR.mkdir(exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(HERE / name, PROXY_DIR / name)
    print(f"installing configurable-http-proxy {PROXY_VERSION} into {PROXY_DIR}/node_modules")
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=PROXY_DIR,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 or not proxy.exists():
        installed.unlink(missing_ok=True)  # so the next run tries again
        raise HubError(
            f"`npm ci` in {PROXY_DIR} failed (it needs the npm registry):\n"
            f"{proc.stdout}{proc.stderr}"
        )
    return proxy


# ---------------------------------------------------------------------------- the accounts
def _read_passwords(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    return dict(line.split(" ", 1) for line in path.read_text().splitlines() if " " in line)


def ensure_accounts(settings: HubSettings) -> dict[str, str | None]:
    """Create the missing accounts; return each account's password (None: an account that
    existed before, which keeps its own password)."""
    passwords = _read_passwords(settings.passwords)
    result: dict[str, str | None] = {}
    for name in settings.accounts:
        if not USERNAME.fullmatch(name):
            raise HubError(
                f"{name!r} is not a valid account name: use lower-case letters, digits, '-' "
                "and '_', starting with a letter, at most 32 characters"
            )
        try:
            pwd.getpwnam(name)
        except KeyError:
            password = secrets.token_urlsafe(12)
            _run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash",
                  "--comment", ACCOUNT_MARK, name])  # fmt: skip
            _run(["chpasswd"], stdin=f"{name}:{password}\n")
            passwords[name] = password
            print(f"created the account {name}")
        result[name] = passwords.get(name)
        home = home_of(name)
        home.chmod(0o700)  # nobody else reads a student's work
    settings.passwords.write_text("".join(f"{n} {p}\n" for n, p in passwords.items()))
    settings.passwords.chmod(0o600)
    return result


def _run(cmd: list[str], stdin: str | None = None) -> None:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if proc.returncode != 0:
        raise HubError(f"`{' '.join(cmd)}` failed: {proc.stderr.strip() or proc.stdout.strip()}")


def _chown_tree(path: Path, name: str) -> None:
    entry = pwd.getpwnam(name)
    for folder, dirs, files in os.walk(path):
        for item in [folder, *(os.path.join(folder, x) for x in dirs + files)]:
            os.lchown(item, entry.pw_uid, entry.pw_gid)


# ------------------------------------------------------------------------ the shared folders
def prepare_shared(settings: HubSettings) -> None:
    """The exchange (every account writes into it) and the students' copy of the course."""
    from autograder.course import CoursePaths
    from autograder.student import student_copy

    shared = Path(settings.shared)
    shared.mkdir(parents=True, exist_ok=True)
    shared.chmod(0o755)
    exchange = settings.exchange
    exchange.mkdir(exist_ok=True)
    # world-writable, as nbgrader's release_assignment makes it, plus the sticky bit: nobody
    # can delete or rename what another account made there
    exchange.chmod(0o1777)
    course_in_exchange = exchange / "ecomrec"  # nbgrader's course_id, owned by the instructor
    course_in_exchange.mkdir(exist_ok=True)
    course_in_exchange.chmod(0o755)
    entry = pwd.getpwnam(settings.instructor)
    os.chown(course_in_exchange, entry.pw_uid, entry.pw_gid)

    copy = settings.student_course
    if copy.exists():
        shutil.rmtree(copy)  # regenerated each time: it follows this repository's release
    student_copy(copy, CoursePaths(root=ROOT))
    (copy / "grading").mkdir(exist_ok=True)  # autograder/nbgrader_config.py expects it
    for folder, dirs, files in os.walk(copy):
        for item in [folder, *(os.path.join(folder, x) for x in dirs + files)]:
            mode = os.lstat(item).st_mode
            if not stat.S_ISLNK(mode):
                extra = stat.S_IROTH | stat.S_IRGRP
                if stat.S_ISDIR(mode) or mode & stat.S_IXUSR:
                    extra |= stat.S_IXOTH | stat.S_IXGRP
                os.chmod(item, (mode | extra) & ~(stat.S_IWGRP | stat.S_IWOTH))


def prepare_instructor_course(settings: HubSettings) -> Path:
    """A copy of this repository in the instructor's home, theirs to write; kept when it exists."""
    from autograder.student import tracked_files

    course = instructor_course(settings)
    if course.exists():
        print(f"keeping the instructor's course folder {course} (their gradebook and grading)")
        return course
    for rel in tracked_files(ROOT, untracked=True):
        (course / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, course / rel)
    _chown_tree(course, settings.instructor)
    print(f"copied the course into {course} for {settings.instructor}")
    return course


# -------------------------------------------------------------------- the course environment
def _blocked_for(path: Path, names: list[str]) -> list[str]:
    """The folders on the way to `path` (symbolic links followed) some account cannot enter."""
    blocked: list[str] = []
    for name in names:
        entry = pwd.getpwnam(name)
        for where in (path, path.resolve()):
            blocked += [
                b for b in _unreachable(where, entry.pw_uid, {entry.pw_gid}) if b not in blocked
            ]
    return blocked


def _shared_interpreter(shared: Path) -> Path:
    """A copy of this virtualenv's own Python (the same build: another patch release of 3.11
    is not enough, e.g. Debian 12's 3.11.2 cannot compile the CSS selectors nbconvert's
    feedback pages use) in <shared>/python, without its site-packages and test suite; made
    once per version. A Python linked to its libpython finds it through a run path to its own
    folder; the copy's is rewritten in place to $ORIGIN/../lib, which is not longer."""
    base = Path(sys.base_prefix)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    copy = shared / "python"
    stamp = copy / "VERSION"
    if stamp.is_file() and stamp.read_text() == sys.version:
        return copy / "bin" / version
    if copy.exists():
        shutil.rmtree(copy)
    skip = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip"}
    shutil.copytree(
        base / "lib",
        copy / "lib",
        symlinks=True,
        ignore=lambda folder, names: [n for n in names if n in skip or n.startswith("config-")],
    )
    (copy / "lib" / version / "site-packages").mkdir()
    (copy / "bin").mkdir()
    python = copy / "bin" / version
    shutil.copy2(Path(sys._base_executable).resolve(), python)
    old = str(base / "lib").encode() + b"\0"
    binary = python.read_bytes()
    if binary.count(old) == 1:
        new = b"$ORIGIN/../lib"
        python.write_bytes(binary.replace(old, new + b"\0" * (len(old) - len(new))))
    elif old in binary:
        raise HubError(f"cannot copy {sys._base_executable}: its run path is ambiguous")
    stamp.write_text(sys.version)
    return python


def course_environment(settings: HubSettings) -> str:
    """The scripts folder every account's server runs from: this virtualenv's when every
    account can run its Python. A virtualenv made from a Python in a private folder (pyenv
    under /root, say) is not: then a virtualenv in <shared>/env, made from a copy of that
    Python every account can run, sees this one's packages (a .pth file), and its scripts are
    this one's with their first line pointing at it. No package is installed twice."""
    bin_dir = Path(sys.executable).parent
    blocked = _blocked_for(bin_dir / "python", settings.accounts)
    if not blocked:
        return str(bin_dir)
    base = _shared_interpreter(Path(settings.shared))
    env = Path(settings.shared) / "env"
    print(
        f"the course environment's Python is closed to the course's accounts "
        f"({', '.join(blocked)}): their servers use {env}, made from a copy of it, {base}, "
        "with the course environment's packages"
    )
    if env.exists():
        shutil.rmtree(env)
    _run([str(base), "-m", "venv", "--without-pip", str(env)])
    import sysconfig

    packages = sysconfig.get_paths()["purelib"]
    site = Path(sysconfig.get_paths(vars={"base": str(env), "platbase": str(env)})["purelib"])
    (site / "course-environment.pth").write_text(f"import site; site.addsitedir({packages!r})\n")
    shebang = re.compile(rf"#!{re.escape(str(bin_dir))}/python[0-9.]*")
    for script in sorted(bin_dir.iterdir()):
        target = env / "bin" / script.name
        if target.exists() or script.is_symlink() or not script.is_file():
            continue
        with script.open("rb") as handle:
            first = handle.readline().decode(errors="replace").rstrip("\n")
        if found := shebang.match(first):
            text = script.read_text()
            target.write_text(f"#!{env / 'bin' / 'python'}" + text[found.end() :])
            target.chmod(0o755)
    for folder, dirs, files in os.walk(env):
        for item in [folder, *(os.path.join(folder, x) for x in dirs + files)]:
            if not os.path.islink(item):
                os.chmod(item, os.lstat(item).st_mode | stat.S_IROTH | stat.S_IRGRP)
    return str(env / "bin")


# ------------------------------------------------------------------------------- the checks
def _unreachable(path: Path, uid: int, gids: set[int]) -> list[str]:
    """The folders on the way to `path` that the account cannot enter."""
    blocked = []
    for folder in [*reversed(path.parents), path]:
        try:
            info = folder.stat()
        except OSError:
            break
        if info.st_uid == uid:
            bit = stat.S_IXUSR
        elif info.st_gid in gids:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if stat.S_ISDIR(info.st_mode) and not info.st_mode & bit:
            blocked.append(f"{folder} (mode {stat.filemode(info.st_mode)})")
    return blocked


def _cannot_run(name: str, python: Path, course: Path, output: str) -> HubError:
    entry = pwd.getpwnam(name)
    gids = {entry.pw_gid}
    blocked = _unreachable(python, entry.pw_uid, gids) + _unreachable(course, entry.pw_uid, gids)
    hint = (
        f"; these folders are closed to {name}: {', '.join(blocked)} (chmod o+x each, or put "
        "the course environment somewhere every account can reach, e.g. /opt)"
        if blocked
        else ""
    )
    return HubError(
        f"the account {name} cannot run the course environment {python} with the course "
        f"library from {course}{hint}:\n{output}"
    )


def check_accounts_can_run_the_course(settings: HubSettings) -> None:
    """Each account starts the course environment's Python as itself, with its own server's
    environment, and imports what its server and kernels need (all at once: each import
    takes seconds)."""
    code = (
        "import jupyterhub, jupyterlab, nbgrader, ecomrec, autograder, os; "
        "print(os.path.dirname(os.path.dirname(ecomrec.__file__)))"
    )
    python = Path(settings.bin) / "python"
    started = {}
    for name in settings.accounts:
        entry = pwd.getpwnam(name)
        env = user_environment(settings, name)
        env.update(HOME=entry.pw_dir, USER=name, LANG="C.UTF-8")
        try:
            started[name] = subprocess.Popen(
                [str(python), "-c", code],
                user=entry.pw_uid,
                group=entry.pw_gid,
                extra_groups=[],
                env=env,
                cwd=entry.pw_dir,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        except OSError as err:
            raise _cannot_run(name, python, Path(env["PYTHONPATH"]), str(err)) from err
    for name, process in started.items():
        output = process.communicate()[0]
        course = user_environment(settings, name)["PYTHONPATH"]
        if process.returncode != 0 or output.strip().splitlines()[-1:] != [course]:
            raise _cannot_run(name, python, Path(course), output)


def warn_if_solutions_readable(settings: HubSettings) -> None:
    solutions = ROOT / "solutions"
    if not solutions.is_dir():
        return
    for name in settings.students:
        entry = pwd.getpwnam(name)
        if os.stat(solutions).st_mode & stat.S_IROTH and not _unreachable(
            solutions, entry.pw_uid, {entry.pw_gid}
        ):
            print(
                f"warning: every account on this machine, students included, can read "
                f"{solutions} (the answers and hidden tests) and {ROOT / 'tests'}; close them "
                f"before students log in: chmod -R o-rwx {solutions} {ROOT / 'tests'}"
            )
            return


# --------------------------------------------------------------------------------- the Hub
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make hub", description=__doc__.split("\n")[0])
    defaults = HubSettings(state="", shared="")
    parser.add_argument("--port", type=int, default=defaults.port, help="the Hub's port")
    parser.add_argument("--hub-port", type=int, default=defaults.hub_port,
                        help="the Hub's internal API port")  # fmt: skip
    parser.add_argument("--proxy-api-port", type=int, default=defaults.proxy_api_port,
                        help="the proxy's API port")  # fmt: skip
    parser.add_argument("--instructor", default=defaults.instructor, help="the instructor")
    parser.add_argument("--students", default=" ".join(defaults.students),
                        help="the students' account names, separated by spaces")  # fmt: skip
    parser.add_argument("--state", default=str(PROXY_DIR),
                        help="the Hub's own files: database, cookie secret, passwords")  # fmt: skip
    parser.add_argument("--shared", default="/srv/ecomrec",
                        help="the exchange and the students' copy of the course")  # fmt: skip
    parser.add_argument("--api-token-file", default=None,
                        help="a file holding an API token for scripts: a Hub service "
                        "'course-admin' that may start servers and make tokens")  # fmt: skip
    parser.add_argument("--prepare-only", action="store_true",
                        help="prepare the accounts and folders, do not start the Hub")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    state = Path(args.state).resolve()
    settings = HubSettings(
        state=str(state),
        shared=str(Path(args.shared).resolve()),
        instructor=args.instructor,
        students=args.students.split(),
        port=args.port,
        hub_port=args.hub_port,
        proxy_api_port=args.proxy_api_port,
        api_token_file=str(Path(args.api_token_file).resolve()) if args.api_token_file else None,
    )
    try:
        if sys.platform != "linux" or os.geteuid() != 0:
            raise HubError(
                "make hub must run as root on Linux: it creates local accounts and starts each "
                "user's server as that user. Run `sudo make hub`; for a Hub without root on "
                "this machine, see the instructor guide (The Littlest JupyterHub)"
            )
        if not settings.students or settings.instructor in settings.students:
            raise HubError("give one instructor and at least one other account as students")
        settings.proxy = str(find_or_install_proxy())
        state.mkdir(parents=True, exist_ok=True)
        state.chmod(0o700)
        passwords = ensure_accounts(settings)
        prepare_shared(settings)
        settings.bin = course_environment(settings)
        prepare_instructor_course(settings)
        check_accounts_can_run_the_course(settings)
        warn_if_solutions_readable(settings)
    except HubError as err:
        print(f"make hub: {err}", file=sys.stderr)
        return 2
    config = settings.save()
    print(f"The course's JupyterHub: http://127.0.0.1:{settings.port}/ (this machine only)")
    for name in settings.accounts:
        role = "instructor" if name == settings.instructor else "student"
        known = "password in " + str(settings.passwords) if passwords[name] else "own password"
        print(f"  {role:10s} {name} ({known})")
    if args.prepare_only:
        return 0
    env = dict(os.environ, PYTHONPATH=str(ROOT), **{SETTINGS_ENV: str(config)})
    os.chdir(state)
    hub = Path(sys.executable).parent / "jupyterhub"  # the Hub runs as root, from this venv
    os.execve(hub, [str(hub), "-f", str(HERE / "jupyterhub_config.py")], env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
