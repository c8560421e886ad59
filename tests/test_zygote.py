"""Warm kernels (`autograder.zygote`) keep every student's kernel apart, as fresh ones do.

Each test starts a real zygote in the bubblewrap sandbox and runs small notebooks in the
kernels it forks: the modules are preloaded, yet no state, file or process of one kernel
reaches the next; a kernel cannot unhide what the sandbox hides (also for a kernel started
cold); a zygote a kernel kills is replaced; a zygote that would fork from several threads
is refused. Grading whole submissions warm and cold is compared in tests/test_grading.py.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from autograder import zygote
from autograder.execute import python_paths
from autograder.sandbox import SandboxedKernelManager, SandboxPolicy, bwrap_available, socket_root

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = ROOT / "solutions"

pytestmark = pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed")


def _policy() -> SandboxPolicy:
    return SandboxPolicy(
        mode="bwrap",
        memory_mb=2048,
        cpu_seconds=120,
        hidden_paths=[HIDDEN, ROOT / "autograder"],
        readable_paths=python_paths(),
        course_root=ROOT,
    )


def run(code: str, warm: bool = True, modules: tuple[str, ...] = ("numpy",)) -> str:
    """Run `code` in one kernel (forked by this process's zygote, or started cold); its
    printed output."""
    import tempfile

    policy = _policy()
    zyg = zygote.warm_zygote(policy, list(modules)) if warm else None
    policy.workdir = Path(tempfile.mkdtemp(dir=zyg.spool if zyg else None))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    km = SandboxedKernelManager(kernel_name="python3", policy=policy, zygote=zyg)
    try:
        NotebookClient(nb, km=km, timeout=60, allow_errors=True).execute()
    finally:
        if zyg is not None:
            zygote.finish(zyg)
    outputs = nb.cells[0].outputs
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors[0].get("evalue")
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


def test_warm_kernels_start_with_the_imports_and_nothing_else():
    first = run(
        "import sys\nprint('numpy' in sys.modules)\nleak = 1\nimport numpy\n"
        "print(numpy.random.rand())"
    )
    second = run("print('leak' in globals())\nimport numpy\nprint(numpy.random.rand())")
    preloaded, first_draw = first.split()
    left, second_draw = second.split()
    assert preloaded == "True", "the zygote imported numpy before forking"
    assert left == "False", "a variable of one kernel reached the next"
    assert first_draw != second_draw, "each kernel draws its own random numbers"


LEAVE = """
import os, subprocess
open('/tmp/leak', 'w').write('x')
open('/dev/shm/leak', 'w').write('x')
open(os.path.join(os.path.dirname(os.getcwd()), 'leak'), 'w').write('x')
os.makedirs('/tmp/locked/deeper')
open('/tmp/locked/deeper/f', 'w').write('x')
os.chmod('/tmp/locked', 0)
subprocess.Popen(['sleep', '600'], start_new_session=True)
try:
    open('HIDDEN/planted', 'w').write('x')
    print('wrote into a hidden folder')
except OSError:
    print('hidden folder is read-only')
""".replace("HIDDEN", str(HIDDEN))

LOOK = """
import os
print(os.path.exists('/tmp/leak'), os.path.exists('/dev/shm/leak'),
      os.path.exists('/tmp/locked'),
      os.path.exists(os.path.join(os.path.dirname(os.getcwd()), 'leak')))
names = []
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            names.append(open(f'/proc/{pid}/comm').read().strip())
        except OSError:
            pass
print('sleep' in names)
print(sorted(os.listdir('SOCKETS')) == [os.path.basename(os.path.dirname(os.getcwd()))])
""".replace("SOCKETS", socket_root())


def test_nothing_a_kernel_leaves_reaches_the_next():
    before = zygote.warm_zygote(_policy(), ["numpy"])
    assert run(LEAVE).strip() == "hidden folder is read-only"
    assert zygote.warm_zygote(_policy(), ["numpy"]) is before, "cleaned, not replaced"
    files, process, sockets = run(LOOK).strip().splitlines()
    assert files == "False False False False", "a file of the last kernel is still there"
    assert process == "False", "a process the last kernel started still runs"
    assert sockets == "True", "a kernel sees other kernels' sockets and connection files"


UNHIDE = """
import os, subprocess
done = subprocess.run(['umount', 'HIDDEN'], capture_output=True)
print(done.returncode != 0, os.listdir('HIDDEN') == [])
""".replace("HIDDEN", str(HIDDEN))


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_a_kernel_cannot_unmount_what_hides_the_solutions(warm):
    # run as root, bubblewrap kept every capability, and `umount` showed solutions/
    assert run(UNHIDE, warm=warm).split() == ["True", "True"]


def test_a_zygote_killed_by_a_kernel_is_replaced():
    policy = _policy()
    before = zygote.warm_zygote(policy, ["numpy"])
    with pytest.raises(DeadKernelError):  # the kernel dies with its zygote, mid-cell
        run("import os, signal, time\nos.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(30)")
    before.proc.wait(timeout=10)  # its sandbox ends with it
    assert not before.alive()
    after = zygote.warm_zygote(policy, ["numpy"])
    assert after is not before and after.alive()
    assert run("print(6 * 7)").strip() == "42"


def test_a_zygote_with_threads_is_refused(tmp_path):
    spool_zygote = zygote.Zygote(_policy(), [])
    try:
        # a module that starts a thread at import, where the zygote imports from
        (spool_zygote.spool / "starts_a_thread.py").write_text(
            "import threading, time\n"
            "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
        )
        with pytest.raises(zygote.ZygoteUnavailable, match="threads"):
            spool_zygote.preload(["starts_a_thread"])
    finally:
        spool_zygote.close()


def test_release_imports_are_what_the_release_notebooks_import():
    release = ROOT / "exercises" / "01-data-and-profiles" / "01-data-and-profiles.ipynb"
    names = zygote.release_imports([release])
    assert {"numpy", "pandas", "ecomrec.datasets"} <= set(names)
    assert all(not name.startswith(".") for name in names)


def test_packages_on_the_graders_path_outside_its_environment_are_readable(monkeypatch):
    # a Hub account's environment sees the course's packages through a .pth file; with
    # them under /tmp, which the sandbox replaces, every kernel died at its first import
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="ecomrec-site-"))  # under /tmp
    try:
        (folder / "elsewhere_module.py").write_text("ANSWER = 42\n")
        monkeypatch.syspath_prepend(str(folder))
        code = f"import sys\nsys.path.append({str(folder)!r})\nimport elsewhere_module\n"
        code += "print(elsewhere_module.ANSWER)"
        assert run(code, warm=False).strip() == "42"
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_kernels_keep_history_in_memory_only(warm):
    # the same kernel options warm and cold: no history database, In and %history still work
    code = (
        "x = 1\nip = get_ipython()\nprint(ip.history_manager.enabled, In[-1].startswith('x = 1'))"
    )
    assert run(code, warm=warm).split() == ["False", "True"]
