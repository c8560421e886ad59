"""Run a student's kernel in a sandbox.

The grader itself (nbgrader, the gradebook, the hidden tests) stays in the trusted
process; only the Jupyter kernel that executes student code is confined. It talks to
the grader over Unix sockets (ZeroMQ "ipc" transport) in a private folder, so it can
live in a network namespace with no interfaces at all.

With bubblewrap (`bwrap`, Debian package `bubblewrap`), the kernel gets:

- no network (a new, empty network namespace), its own PID/IPC/UTS namespaces;
- no capabilities (`--cap-drop ALL`: run as root, bubblewrap would keep them all, and a
  kernel could unmount what hides the solutions);
- the whole file system read-only, with these hidden behind empty tmpfs mounts:
  `solutions/`, `.git/`, the grading work folder (gradebook, other students' files),
  the submissions folder, and any path in `hidden_paths`;
- a private writable working folder holding only the student's own non-notebook files,
  a private `/tmp` and `/dev/shm`, and nothing else writable (the folders that hide paths
  and `/dev` are read-only); the other kernels' sockets and connection files are hidden;
- an address-space limit (`prlimit --as`) and a CPU-time limit (`prlimit --cpu`).

Without bubblewrap the fallback ("rlimit") keeps the limits, the private working folder
and a scrubbed environment but cannot hide files or cut the network: `course grade`
says so loudly. See the instructor guide for what each mode does and does not protect.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import Any as AnyTrait
from traitlets import default

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
        return self._bwrap(readable_files) + limits + cmd

    def wrap_zygote(self, cmd: list[str], spool: Path) -> list[str]:
        """A zygote's command (`autograder.zygote`): the kernel's sandbox, with `spool`
        (where its kernels' folders and sockets go) writable; the zygote sets each kernel's
        limits itself."""
        if self.mode == "rlimit":
            return cmd
        shared = SandboxPolicy(**{**self.__dict__, "socket_dir": spool, "workdir": spool})
        return shared._bwrap(()) + cmd

    def zygote_key(self) -> tuple:
        """What a zygote's sandbox depends on (the per-kernel limits and folders aside)."""
        return (
            self.mode,
            tuple(map(str, self.hidden_paths)),
            tuple(map(str, self.readable_paths)),
            str(self.course_root),
        )

    def _bwrap(self, readable_files: tuple[str, ...]) -> list[str]:
        args = [
            shutil.which("bwrap") or "bwrap",
            "--die-with-parent",
            "--new-session",
            "--unshare-all",  # network, pid, ipc, uts, cgroup and user namespaces
            # run as root, bubblewrap would keep every capability in the sandbox, and a
            # kernel could unmount what hides the solutions; no kernel needs one
            "--cap-drop",
            "ALL",
            # the kernel watches JPY_PARENT_PID, which is not visible in its pid namespace
            "--unsetenv",
            "JPY_PARENT_PID",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--tmpfs",
            "/dev/shm",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
        ]
        for path in self.readable_paths:  # back on top of the private /tmp, read-only
            if Path(path).exists():
                args += ["--ro-bind", str(path), str(path)]
        # after the binds above, so they stay hidden; the socket root holds the other
        # kernels' sockets and connection files (this kernel's own is bound back below)
        empty = []  # the tmpfs that hide a folder, made read-only once everything is bound
        for path in [*self.hidden_paths, Path(socket_root())]:
            if Path(path).is_dir():
                args += ["--tmpfs", str(path)]
                empty.append(str(path))
            elif Path(path).exists():  # a file (e.g. the `.git` file of a git worktree)
                args += ["--ro-bind", "/dev/null", str(path)]
        for path in (self.socket_dir, self.workdir):
            if path is not None:
                args += ["--bind", str(path), str(path)]
        for path in readable_files:  # e.g. the kernel's connection file, wherever it is
            args += ["--ro-bind", str(path), str(path)]
        # nothing is written anywhere but /tmp, /dev/shm and the folders bound above (so a
        # warm zygote can empty them all between students, see autograder.zygote)
        for path in ["/dev", *empty]:
            args += ["--remount-ro", path]
        if self.workdir is not None:
            args += ["--chdir", str(self.workdir)]
        return args


# every graded kernel's options (warm or cold): IPython keeps In, Out and %history in
# memory but writes no history database (a thread and a write per cell, for a kernel
# that lives one notebook)
KERNEL_ARGUMENTS = ["--HistoryManager.enabled=False"]


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


class ReadyClient(AsyncKernelClient):
    """jupyter_client's client, ready as soon as the kernel is: it waits for the kernel's
    reply to kernel_info and for the idle status that closes that request on IOPub (so IOPub
    is connected and holds nothing older), instead of draining IOPub until it has been
    silent for 0.2 s, which every kernel start paid.

    Its sockets retry a connection after 5 ms (doubling up to 0.1 s), not ZeroMQ's fixed
    0.1 s: they connect before the new kernel has bound its sockets, and the first retry
    came a tenth of a second after the kernel was up."""

    @default("context")
    def _context_default(self) -> zmq.asyncio.Context:
        context = super()._context_default()
        context.setsockopt(zmq.RECONNECT_IVL, 5)  # milliseconds; for sockets made after this
        context.setsockopt(zmq.RECONNECT_IVL_MAX, 100)
        return context

    async def _ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while time.monotonic() < deadline:
            msg_id = self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
                while reply["parent_header"].get("msg_id") != msg_id:  # an older request's
                    reply = await self.shell_channel.get_msg(timeout=1)
                while True:  # a kernel's first messages may go before IOPub is subscribed
                    msg = await self.iopub_channel.get_msg(timeout=0.03)
                    if (
                        msg["parent_header"].get("msg_id") == msg_id
                        and msg["msg_type"] == "status"
                        and msg["content"]["execution_state"] == "idle"
                    ):
                        self._handle_kernel_info_reply(reply)
                        return
            except Empty:  # not up yet, or IOPub not connected yet: ask again
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info") from None
        raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    wait_for_ready = _ready


class SandboxedKernelManager(AsyncKernelManager):
    """An AsyncKernelManager whose kernel runs under a `SandboxPolicy`, over ipc sockets.

    With a `zygote` (`autograder.zygote`), the kernel is forked by that warm, sandboxed
    process instead of started as a new one; its socket folder and connection file are
    then in the zygote's shared folder, the only place both can reach."""

    policy = AnyTrait(None, allow_none=True, help="the SandboxPolicy to apply")
    zygote = AnyTrait(None, allow_none=True, help="the autograder.zygote.Zygote to fork from")

    def __init__(self, *, policy: SandboxPolicy, zygote=None, **kwargs):
        where = zygote.spool if zygote is not None else socket_root()
        socket_dir = Path(tempfile.mkdtemp(prefix="ag-sock-", dir=where))
        policy.socket_dir = socket_dir
        super().__init__(
            transport="ipc",
            ip=str(socket_dir / "k"),
            connection_file=str(socket_dir / "kernel.json"),
            client_class="autograder.sandbox.ReadyClient",
            **kwargs,
        )
        self.policy, self.zygote = policy, zygote

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd([*KERNEL_ARGUMENTS, *(extra_arguments or [])])
        return self.policy.wrap(list(cmd), readable_files=(self.connection_file,))

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        kw["env"] = kernel_env()
        if self.policy.course_root is not None:
            kw["env"]["PYTHONPATH"] = str(self.policy.course_root)
        if self.policy.workdir is not None:  # IPython's profile dir, writable and private
            kw["env"]["IPYTHONDIR"] = str(self.policy.workdir / ".ipython")
            kw["cwd"] = str(self.policy.workdir)
        if self.zygote is None:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        process = self.zygote.spawn(
            self.connection_file,
            self.policy.workdir,
            kw["env"],
            self.policy.memory_mb,
            self.policy.cpu_seconds,
            KERNEL_ARGUMENTS,
        )
        provisioner = self.provisioner
        provisioner.process, provisioner.pid, provisioner.pgid = process, process.pid, None
        provisioner.cwd = kw.get("cwd")
        self._reconcile_connection_info(provisioner.connection_info)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self.policy.socket_dir is not None:
            shutil.rmtree(self.policy.socket_dir, ignore_errors=True)


def socket_root() -> str:
    # Outside /tmp, which the sandbox replaces with its own empty tmpfs.
    root = Path(os.environ.get("XDG_RUNTIME_DIR") or Path.home() / ".cache") / "ecomrec-grader"
    root.mkdir(parents=True, exist_ok=True)
    return str(root)
