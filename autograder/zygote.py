"""Warm kernels: each grading worker keeps one pre-imported Python that forks every kernel.

A fresh Jupyter kernel spends most of a short notebook starting up: Python itself,
IPython and ipykernel, then the notebook's own `import numpy, pandas, ecomrec`. A
*zygote* pays that once per worker. It is started inside the same sandbox a kernel gets
(`autograder.sandbox.SandboxPolicy`: no network, read-only files, the hidden paths hidden,
a private `/tmp`, no capabilities), imports ipykernel and the modules the assignment's
*release* notebooks import (never a module named only by a student), and checks that it
is still a single thread. For each notebook it then forks a child that sets the kernel's
own limits (address space, CPU time), environment and working folder, and becomes an
ordinary ipykernel on the connection file it is given.

So each student still gets a new process with nothing of another student's in it: the
child is a copy of the zygote as it was before any student ran. Before every kernel and
after it, the zygote kills every other process in its sandbox (`kill(-1)` in its own PID
namespace: whatever a student left running) and empties the sandbox's private `/tmp` and
`/dev/shm`; the worker empties the folder the zygote shares with it. A zygote that
cannot be cleaned, or that died (a student can kill it), is replaced by a new one. The
zygote is not dumpable, so a kernel cannot trace it or write its memory. With
`--sandbox rlimit` there is no PID namespace and no private `/tmp`: only the kernel's own
process group is killed, as without warm kernels.

What differs from a fresh kernel: the modules the zygote imported are already imported
(with the same environment a kernel gets), and the hash seed is the zygote's. NumPy's
global random state is re-seeded in each child, as Python's `random` already is.

This file, run with `--serve`, is the zygote; `Zygote` is its handle in the worker,
and `ZygoteKernel` the `subprocess.Popen`-like object jupyter_client manages.
"""

from __future__ import annotations

import ast
import atexit
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# always imported first: what every kernel needs (IPython, ipykernel, ZeroMQ)
KERNEL_MODULES = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",
    "IPython.core.interactiveshell",
    "IPython.core.completer",
    "jupyter_client.session",
)
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
# the file descriptor zygotes (and so their kernels) write their messages to: a grading
# worker sets its own log (see autograder.worker.serve); None is this process's stderr
LOG_FD: int | None = None
REPLY_SECONDS = 120  # a preload of the course's imports takes a few seconds; this is a hang


class ZygoteUnavailable(RuntimeError):
    """The zygote could not start or preload; the worker starts plain kernels instead."""


def release_imports(notebooks: list[Path]) -> list[str]:
    """The absolute imports of the release notebooks' code cells, in order (`import a.b`
    gives "a.b"; `from a import b` gives "a" and "a.b", in case b is a submodule)."""
    import nbformat

    names: list[str] = []
    for path in notebooks:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:  # IPython magics: the cell's imports are skipped
                continue
            for node in tree.body:
                if isinstance(node, ast.Import):
                    names += [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.append(node.module)
                    names += [f"{node.module}.{a.name}" for a in node.names if a.name != "*"]
    return list(dict.fromkeys(names))


# ----------------------------------------------------------------- inside the sandbox
def _prctl(option: int, value: int) -> None:
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(option, value)
    except (OSError, AttributeError):
        pass


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _preload(modules: list[str]) -> dict:
    import importlib

    loaded, failed = [], []
    for name in modules:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except BaseException:  # noqa: BLE001 - "from a import b" where b is no module
            failed.append(name)
    # the course's data, paid once too: a module of these packages may offer a
    # `zygote_warm()` (ecomrec.datasets.shopsim parses the shipped tables)
    packages = {name.split(".")[0] for name in loaded} - {"ipykernel", "IPython", "jupyter_client"}
    warmed = []
    for name, module in sorted(sys.modules.items()):
        warm = getattr(module, "zygote_warm", None) if module is not None else None
        if name.split(".")[0] in packages and callable(warm) and name not in _WARMED:
            try:
                warm()
                warmed.append(name)
            except Exception:  # noqa: BLE001 - the kernel simply pays for it itself
                failed.append(f"{name}.zygote_warm()")
            _WARMED.add(name)
    import gc

    # the imported modules live as long as every kernel: a kernel's garbage collections
    # never walk them, so they never copy the zygote's memory page by page
    gc.collect()
    gc.freeze()
    threads = _threads()
    return {
        "ok": threads == 1,
        "threads": threads,
        "loaded": loaded,
        "failed": failed,
        "warmed": warmed,
    }


_WARMED: set[str] = set()


def _become_kernel(req: dict, reply_fd: int) -> None:
    """In the forked child: the kernel's limits, environment and folder, then ipykernel."""
    import resource

    os.setsid()  # its own process group: a signal to the kernel reaches what it started
    os.close(reply_fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # the kernel's own output goes where the worker's log is
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _prctl(PR_SET_DUMPABLE, 1)
    memory = int(req["memory_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (int(req["cpu_seconds"]), int(req["cpu_seconds"])))
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    sys.path[0] = req["cwd"]  # as `python -m ipykernel_launcher` started in cwd would have
    if "numpy" in sys.modules:  # else every student would draw the same "random" numbers
        sys.modules["numpy"].random.seed()
    sys.argv = ["ipykernel_launcher", "-f", req["connection_file"], *req.get("arguments", [])]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


def _spawn(req: dict, reply_fd: int) -> int:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            _become_kernel(req, reply_fd)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        except BaseException:  # noqa: BLE001 - reported in the log, the kernel is dead
            import traceback

            traceback.print_exc()
            code = 70
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return pid


def _returncode(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def _reap(children: dict[int, int | None]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children[pid] = _returncode(status)


def _mount_points() -> set[str]:
    points = set()
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            point = line.split()[4]
            for code in ("\\040", "\\011", "\\012", "\\134"):  # mountinfo's escapes
                point = point.replace(code, chr(int(code[1:], 8)))
            points.add(point)
    return points


def _unlock(folder: Path) -> None:
    """Make a folder tree the kernel left removable again (it has our user id)."""
    try:
        os.chmod(folder, 0o700)
        for entry in os.scandir(folder):
            if entry.is_dir(follow_symlinks=False):
                _unlock(Path(entry.path))
    except OSError:
        pass


def _empty(folder: Path, mounts: set[str]) -> bool:
    """Remove everything a kernel may have left in `folder` (it may have made it
    unreadable first); the sandbox's own mount points (hidden or read-only folders under
    /tmp) and the folders that lead to them stay. True when nothing else is left."""
    clean = True
    for entry in list(folder.iterdir()):
        name = str(entry)
        if name in mounts:
            continue
        if entry.is_dir() and not entry.is_symlink():
            if any(m.startswith(name + "/") for m in mounts):
                clean &= _empty(entry, mounts)
                continue
            _unlock(entry)
            shutil.rmtree(entry, ignore_errors=True)
        else:
            try:
                entry.unlink()
            except OSError:
                pass
        clean &= not os.path.lexists(entry)
    return clean


def _clean(children: dict[int, int | None], pid_namespace: bool) -> dict:
    """Kill what the last kernel left; in a PID namespace, everything but this zygote."""
    for pid, code in children.items():
        if code is None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    if pid_namespace:
        try:
            os.kill(-1, signal.SIGKILL)  # every process of this sandbox but its init and us
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while True:
        _reap(children)
        others = (
            [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())]
            if pid_namespace
            else []
        )
        alive = [p for p, c in children.items() if c is None]
        if (not others and not alive) or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    clean = not others and not alive
    if pid_namespace:  # the private /tmp and /dev/shm of this sandbox
        mounts = _mount_points()
        clean &= _empty(Path("/tmp"), mounts) & _empty(Path("/dev/shm"), mounts)
    children.clear()
    return {"clean": clean}


def _in_bwrap_pid_namespace() -> bool:
    """bubblewrap's layout: its init is PID 1 of a new PID namespace, and we are its child."""
    try:
        return os.getpid() == 2 and Path("/proc/1/comm").read_text().strip() == "bwrap"
    except OSError:
        return False


def serve(pid_namespace: bool) -> int:
    """Answer one JSON line on stdout per request line on stdin, until stdin closes."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    _prctl(PR_SET_DUMPABLE, 0)  # a kernel may not trace this process or write its memory
    if pid_namespace and not _in_bwrap_pid_namespace():
        pid_namespace = False  # never kill(-1) outside a sandbox of our own
    reply_fd = os.dup(1)
    os.dup2(2, 1)  # a stray print never lands in the reply stream
    children: dict[int, int | None] = {}
    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        if op == "preload":
            answer = _preload(list(KERNEL_MODULES) + req["modules"])
        elif op == "spawn":
            answer = {"pid": _spawn(req, reply_fd)}
            children[answer["pid"]] = None
        elif op == "poll":
            _reap(children)
            answer = {"exit": children.get(req["pid"])}
        elif op == "signal":
            try:
                os.killpg(req["pid"], req["signal"])
                answer = {"ok": True}
            except (ProcessLookupError, PermissionError) as err:
                answer = {"ok": False, "error": str(err)}
        elif op == "clean":
            answer = _clean(children, pid_namespace)
        else:
            answer = {"error": f"unknown request {op!r}"}
        os.write(reply_fd, (json.dumps(answer) + "\n").encode())
    return 0


# ------------------------------------------------------------------- in the worker
class Zygote:
    """The worker's handle on one zygote process (started in its sandbox)."""

    def __init__(self, policy, modules: list[str]):
        from autograder.sandbox import kernel_env, socket_root

        self.policy = policy
        self.spool = Path(tempfile.mkdtemp(prefix="zygote-", dir=socket_root()))
        self.lock = threading.Lock()
        self.loaded: set[str] = set()
        pid_namespace = policy.mode == "bwrap"
        # its own source, not `-m`: the sandbox hides the autograder package from kernels
        cmd = [sys.executable, "-c", Path(__file__).read_text(), "--serve"]
        cmd += ["--pid-namespace"] if pid_namespace else []
        env = kernel_env()
        if policy.course_root is not None:
            env["PYTHONPATH"] = str(policy.course_root)
        env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # debugpy's note on frozen modules
        self.proc = subprocess.Popen(
            policy.wrap_zygote(cmd, self.spool),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=LOG_FD,  # where its kernels' own messages go
            cwd=self.spool,
            env=env,
            start_new_session=True,
        )
        self._buffer = b""
        self.preload(modules)

    def request(self, **req) -> dict:
        with self.lock:
            if self.proc.poll() is not None:
                raise ZygoteUnavailable(f"the zygote exited ({self.proc.returncode})")
            try:
                self.proc.stdin.write((json.dumps(req) + "\n").encode())
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError) as err:
                raise ZygoteUnavailable(f"the zygote is gone ({err})") from None
            fd = self.proc.stdout.fileno()
            deadline = time.monotonic() + REPLY_SECONDS
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                    self.close()
                    raise ZygoteUnavailable(f"the zygote did not answer {req['op']!r}")
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise ZygoteUnavailable("the zygote exited")
                self._buffer += chunk
            line, _, self._buffer = self._buffer.partition(b"\n")
            return json.loads(line)

    def preload(self, modules: list[str]) -> None:
        todo = [m for m in modules if m not in self.loaded]
        if not todo and self.loaded:
            return
        answer = self.request(op="preload", modules=todo)
        self.loaded |= set(answer["loaded"]) | set(answer["failed"])
        if not answer["ok"]:
            self.close()
            raise ZygoteUnavailable(
                f"after its imports the zygote runs {answer['threads']} threads; it can only "
                "fork a kernel safely from one"
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def clean(self) -> bool:
        """Kill what the last kernel left, empty the shared folder; False if not clean."""
        answer = self.request(op="clean")
        for entry in self.spool.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        return bool(answer.get("clean")) and not any(self.spool.iterdir())

    def spawn(
        self,
        connection_file: str,
        cwd: Path,
        env: dict,
        memory_mb: int,
        cpu_seconds: int,
        arguments: tuple[str, ...] | list[str] = (),
    ):
        """Fork a kernel: `arguments` are ipykernel's command-line options."""
        answer = self.request(
            op="spawn",
            connection_file=connection_file,
            cwd=str(cwd),
            env=env,
            memory_mb=memory_mb,
            cpu_seconds=cpu_seconds,
            arguments=list(arguments),
        )
        return ZygoteKernel(self, answer["pid"])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        shutil.rmtree(self.spool, ignore_errors=True)


class ZygoteKernel:
    """A kernel forked by a zygote, as jupyter_client's provisioner sees a Popen."""

    stdin = stdout = stderr = None

    def __init__(self, zygote: Zygote, pid: int):
        self.zygote, self.pid, self.returncode = zygote, pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = self.zygote.request(op="poll", pid=self.pid)["exit"]
            except ZygoteUnavailable:
                self.returncode = -signal.SIGKILL  # the kernel died with its zygote
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("kernel", timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Signal the kernel; after SIGKILL, wait (briefly) until it is gone, so
        jupyter_client's first check finds it dead instead of sleeping a tenth of a second
        before the next (its provisioner kills through here, not through `kill`)."""
        if self.poll() is None:
            self.zygote.request(op="signal", pid=self.pid, signal=int(signum))
        if signum == signal.SIGKILL:
            deadline = time.monotonic() + 1
            while self.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


_zygotes: dict[tuple, Zygote] = {}


def warm_zygote(policy, modules: list[str]) -> Zygote:
    """This process's zygote for `policy`, started (or replaced) when needed, clean."""
    key = policy.zygote_key()
    for attempt in range(2):  # the one in use, else (dead, dirty) a new one
        zygote = _zygotes.get(key)
        if zygote is None or not zygote.alive() or attempt:
            if zygote is not None:
                _zygotes.pop(key).close()
            if not _zygotes:
                atexit.register(close_all)
            zygote = _zygotes[key] = Zygote(policy, modules)
        try:
            zygote.preload(modules)
            if zygote.clean():
                return zygote
        except ZygoteUnavailable:
            if attempt:
                raise
    _zygotes.pop(key).close()
    raise ZygoteUnavailable("the zygote's sandbox could not be emptied after a kernel")


def finish(zygote: Zygote) -> None:
    """After a kernel: kill what it left and empty its folders, or retire the zygote."""
    try:
        if zygote.clean():
            return
    except ZygoteUnavailable:
        pass
    for key, known in list(_zygotes.items()):
        if known is zygote:
            del _zygotes[key]
    zygote.close()


def close_all() -> None:
    while _zygotes:
        _zygotes.popitem()[1].close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "--serve":
        print("usage: python -m autograder.zygote --serve [--pid-namespace]", file=sys.stderr)
        return 2
    return serve(pid_namespace="--pid-namespace" in argv)


if __name__ == "__main__":
    sys.exit(main())
