"""nbgrader's Execute step, with the student's kernel sandboxed and the run bounded.

`SandboxedExecute` replaces nbgrader's `Execute` in the autograde pipeline:

- it inserts the tamper guards (see `autograder.guards`) and checks them afterwards;
- it starts the kernel through `SandboxedKernelManager` in a private working folder that
  holds the student's non-notebook files only (so code cannot read its own notebook,
  where the hidden tests now sit);
- each cell has a timeout, the whole notebook a wall-clock limit, the kernel a memory
  and CPU-time limit; a kernel that dies (os._exit, a crash, the memory limit) fails the
  cells it did not run instead of aborting the student's grading;
- it writes what happened (timeouts, a dead kernel, tampering) to a JSON file beside the
  gradebook, which `course grade` turns into the student's status and reason.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import Instance, List, Unicode

from autograder import guards
from autograder import zygote as zygote_mod
from autograder.limits import GradingLimits
from autograder.sandbox import SandboxedKernelManager, SandboxPolicy

COURSE_ROOT = Path(__file__).resolve().parents[1]


def _error(ename: str, evalue: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output(
        "error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]
    )


def python_paths() -> list[Path]:
    """What a kernel must read to run this Python: the course, the environment and its base,
    and every folder on sys.path outside them (a `.pth` file can add site-packages that live
    elsewhere, e.g. under /tmp, which the sandbox replaces with an empty one)."""
    paths = [COURSE_ROOT, Path(sys.prefix), Path(sys.base_prefix)]
    for entry in filter(None, sys.path):
        for folder in {Path(entry).absolute(), Path(entry).resolve()}:
            if folder.is_dir() and not any(folder == p or p in folder.parents for p in paths):
                paths.append(folder)
    return paths


def sandbox_policy(limits: GradingLimits, hidden_paths: list[str]) -> SandboxPolicy:
    """The sandbox of a student's kernel (its working folder is set per notebook)."""
    return SandboxPolicy(
        mode=limits.sandbox,
        memory_mb=limits.memory_mb,
        cpu_seconds=limits.cpu_seconds,
        hidden_paths=[Path(p) for p in hidden_paths],
        readable_paths=python_paths(),
        course_root=COURSE_ROOT,
    )


class SandboxedExecute(Execute):
    limits = Instance(GradingLimits, args=(), help="time, memory and sandbox limits").tag(
        config=True
    )
    hidden_paths = List(Unicode(), help="paths the kernel must not see").tag(config=True)
    status_dir = Unicode("", help="where to write what happened, one JSON per notebook").tag(
        config=True
    )
    # the outputs are all in when the last cell is done: nothing to wait for at the end
    shutdown_kernel = "immediate"
    preload = List(
        Unicode(), help="modules a warm kernel's zygote imports (the release's imports)"
    ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        guards.insert_guards(nb)
        policy = sandbox_policy(self.limits, self.hidden_paths)
        zygote = self._zygote(policy)
        workdir = Path(
            tempfile.mkdtemp(prefix="ecomrec-kernel-", dir=zygote.spool if zygote else None)
        )
        policy.workdir = workdir
        source = Path(resources.get("metadata", {}).get("path") or workdir)
        if source != workdir:  # the student's data files, not the notebooks
            shutil.copytree(
                source, workdir, ignore=shutil.ignore_patterns("*.ipynb"), dirs_exist_ok=True
            )
        kernel_name = nb.metadata.get("kernelspec", {}).get("name", "python3")
        km = SandboxedKernelManager(kernel_name=kernel_name, policy=policy, zygote=zygote)
        self._events: list[str] = []
        self._dead = False
        self._cell_timeout = self.limits.cell_timeout
        self._started = time.monotonic()
        self._deadline = self._started + self.limits.notebook_wall
        self._kernel_seconds = None
        try:
            nb, resources = super().preprocess(nb, resources, km=km)
        finally:
            if zygote is not None:
                zygote_mod.finish(zygote)  # what the kernel left running or in /tmp
            shutil.rmtree(workdir, ignore_errors=True)
        seconds = {"kernel_start": self._kernel_seconds, "run": time.monotonic() - self._started}
        tampering = guards.check_and_remove_guards(nb)
        self._write_status(resources, tampering, seconds, warm=zygote is not None)
        return nb, resources

    def _zygote(self, policy: SandboxPolicy):
        """This worker's warm zygote, or None for a kernel started afresh (when warm kernels
        are off, or the zygote cannot start: the log says why)."""
        if not self.limits.warm_kernels:
            return None
        try:
            return zygote_mod.warm_zygote(policy, list(self.preload))
        except zygote_mod.ZygoteUnavailable as err:
            self.log.warning("starting a fresh kernel instead of a warm one: %s", err)
            return None

    async def async_start_new_kernel_client(self):
        client = await super().async_start_new_kernel_client()
        self._kernel_seconds = time.monotonic() - self._started  # for the grading profile
        return client

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell
        remaining = self._deadline - time.monotonic()
        if self._dead:
            cell.outputs = [_error("DeadKernelError", "not run: the kernel had already stopped")]
            return cell
        if remaining <= 1:
            self._note("wall")
            cell.outputs = [
                _error(
                    "CellTimeoutError",
                    "not run: the notebook's time limit "
                    f"({self.limits.notebook_wall} s) was used up",
                )
            ]
            return cell
        self.timeout = int(max(1, min(self._cell_timeout, remaining)))
        try:
            cell = await super().async_execute_cell(
                cell, cell_index, execution_count, store_history
            )
        except CellTimeoutError:
            self._note("timeout")
            cell.outputs.append(
                _error(
                    "CellTimeoutError",
                    f"the cell ran past its time limit ({self.timeout} s) and was interrupted",
                )
            )
        except DeadKernelError:
            self._dead = True
            self._note("dead")
            cell.outputs.append(
                _error(
                    "DeadKernelError",
                    "the kernel stopped while running this cell (crash, os._exit, or memory limit)",
                )
            )
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                if out.get("ename") == "CellTimeoutError":
                    self._note("timeout")
                elif out.get("ename") == "MemoryError":
                    self._note("memory")
        return cell

    # NotebookClient binds its sync wrapper to its own coroutine: rebind it to ours
    execute_cell = run_sync(async_execute_cell)

    def _note(self, event: str) -> None:
        if event not in self._events:
            self._events.append(event)

    def _write_status(self, resources, tampering: list[str], seconds: dict, warm: bool) -> None:
        if not self.status_dir:
            return
        meta = resources.get("nbgrader", {})
        name = meta.get("notebook") or resources.get("unique_key", "notebook")
        path = Path(self.status_dir) / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        status = {
            "events": self._events,
            "tampering": tampering,
            "seconds": seconds,
            "warm": warm,
        }
        path.write_text(json.dumps(status))
