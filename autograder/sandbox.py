"""Run a student's kernel in a sandbox.

The grader itself (nbgrader, the gradebook, the hidden tests) stays in the trusted
process; only the Jupyter kernel that executes student code is confined. It talks to
the grader over Unix sockets (ZeroMQ "ipc" transport) in a private folder, so it can
live in a network namespace with no interfaces at all.

With bubblewrap (`bwrap`, Debian package `bubblewrap`), the kernel gets:

- no network (a new, empty network namespace), its own PID/IPC/UTS namespaces;
- the whole file system read-only, with these hidden behind empty tmpfs mounts:
  `solutions/`, `.git/`, the grading work folder (gradebook, other students' files),
  the submissions folder, and any path in `hidden_paths`;
- a private writable working folder holding only the student's own non-notebook files,
  and a private `/tmp`;
- an address-space limit (`prlimit --as`) and a CPU-time limit (`prlimit --cpu`).

Without bubblewrap the fallback ("rlimit") keeps the limits, the private working folder
and a scrubbed environment but cannot hide files or cut the network: `course grade`
says so loudly. See the instructor guide for what each mode does and does not protect.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Any as AnyTrait

SANDBOX_MODES = ("auto", "bwrap", "rlimit")


def bwrap_available() -> bool:
    """True when bubblewrap is installed and can create namespaces here."""
    exe = shutil.which("bwrap")
    if exe is None:
        return False
    import subprocess

    probe = [
        exe,
        "--unshare-all",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "true",
    ]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def resolve_mode(mode: str) -> str:
    if mode not in SANDBOX_MODES:
        raise ValueError(f"sandbox mode must be one of {SANDBOX_MODES}, got {mode!r}")
    if mode == "auto":
        return "bwrap" if bwrap_available() else "rlimit"
    if mode == "bwrap" and not bwrap_available():
        raise RuntimeError(
            "bubblewrap is not available: install the Debian package `bubblewrap` "
            "(apt-get install bubblewrap) or choose --sandbox rlimit (weaker, see the guide)"
        )
    return mode


@dataclass
class SandboxPolicy:
    """What a student kernel may use (the limits come from `autograder.limits`)."""

    mode: str
    memory_mb: int
    cpu_seconds: int
    hidden_paths: list[Path] = field(default_factory=list)
    # read-only paths the kernel needs even when they live under /tmp (a CI clone, a venv)
    readable_paths: list[Path] = field(default_factory=list)
    workdir: Path | None = None  # the kernel's private, writable working folder
    socket_dir: Path | None = None  # where the ZeroMQ ipc sockets live
    # the course checkout whose `ecomrec` the kernel imports (not whichever one is installed)
    course_root: Path | None = None

    def wrap(self, cmd: list[str], readable_files: tuple[str, ...] = ()) -> list[str]:
        """The kernel command, confined according to this policy."""
        limits = [
            shutil.which("prlimit") or "prlimit",
            f"--as={self.memory_mb * 1024 * 1024}",
            f"--cpu={self.cpu_seconds}",
            "--",
        ]
        if self.mode == "rlimit":
            return limits + cmd
        args = [
            shutil.which("bwrap") or "bwrap",
            "--die-with-parent",
            "--new-session",
            "--unshare-all",  # network, pid, ipc, uts, cgroup and user namespaces
            # the kernel watches JPY_PARENT_PID, which is not visible in its pid namespace
            "--unsetenv",
            "JPY_PARENT_PID",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
        ]
        for path in self.readable_paths:  # back on top of the private /tmp, read-only
            if Path(path).exists():
                args += ["--ro-bind", str(path), str(path)]
        for path in self.hidden_paths:  # after the binds above, so they stay hidden
            if Path(path).is_dir():
                args += ["--tmpfs", str(path)]
            elif Path(path).exists():  # a file (e.g. the `.git` file of a git worktree)
                args += ["--ro-bind", "/dev/null", str(path)]
        for path in (self.socket_dir, self.workdir):
            if path is not None:
                args += ["--bind", str(path), str(path)]
        for path in readable_files:  # e.g. the kernel's connection file, wherever it is
            args += ["--ro-bind", str(path), str(path)]
        if self.workdir is not None:
            args += ["--chdir", str(self.workdir)]
        return args + limits + cmd


def kernel_env() -> dict[str, str]:
    """A scrubbed environment for the kernel: no tokens, credentials or grading settings."""
    keep = (
        "PATH",
        "LANG",
        "LC_ALL",
        "HOME",
        "PYTHONHASHSEED",
        "OPENBLAS_CORETYPE",
        "OPENBLAS_L2_SIZE",
        "TZ",
    )
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MPLBACKEND="Agg",
        PYTHONDONTWRITEBYTECODE="1",
        NBGRADER_EXECUTION="autograde",
    )
    return env


class SandboxedKernelManager(AsyncKernelManager):
    """An AsyncKernelManager whose kernel runs under a `SandboxPolicy`, over ipc sockets."""

    policy = AnyTrait(None, allow_none=True, help="the SandboxPolicy to apply")

    def __init__(self, *, policy: SandboxPolicy, **kwargs):
        socket_dir = Path(tempfile.mkdtemp(prefix="ag-sock-", dir=_socket_root()))
        policy.socket_dir = socket_dir
        super().__init__(transport="ipc", ip=str(socket_dir / "k"), **kwargs)
        self.policy = policy

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        return self.policy.wrap(list(cmd), readable_files=(self.connection_file,))

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        kw["env"] = kernel_env()
        if self.policy.course_root is not None:
            kw["env"]["PYTHONPATH"] = str(self.policy.course_root)
        if self.policy.workdir is not None:  # IPython's profile dir, writable and private
            kw["env"]["IPYTHONDIR"] = str(self.policy.workdir / ".ipython")
            kw["cwd"] = str(self.policy.workdir)
        return await super()._async_launch_kernel(kernel_cmd, **kw)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self.policy.socket_dir is not None:
            shutil.rmtree(self.policy.socket_dir, ignore_errors=True)


def _socket_root() -> str:
    # Outside /tmp, which the sandbox replaces with its own empty tmpfs.
    root = Path(os.environ.get("XDG_RUNTIME_DIR") or Path.home() / ".cache") / "ecomrec-grader"
    root.mkdir(parents=True, exist_ok=True)
    return str(root)
