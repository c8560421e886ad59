"""The limits a student's kernel runs under while it is graded: their one home.

`course grade` builds a `GradingLimits` from its options (whose defaults are the fields
below), passes it with each student's job to a worker process as JSON (on this machine or on
a Dask cluster's workers), and the worker hands it to the sandboxed execution step. Nothing
else declares a limit.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from autograder.sandbox import SANDBOX_MODES


@dataclass(frozen=True)
class GradingLimits:
    cell_timeout: int = 120  # seconds one cell may run before it is interrupted
    notebook_wall: int = 600  # seconds one notebook may run in all
    memory_mb: int = 2048  # address space of the kernel (PyTorch alone reserves ~1.5 GB)
    sandbox: str = "bwrap"  # bwrap (full sandbox) or rlimit (limits only), see autograder.sandbox
    # fork each kernel from the worker's pre-imported zygote (autograder.zygote), or start
    # every kernel as a new Python process as nbgrader does
    warm_kernels: bool = True

    def __post_init__(self):
        if self.sandbox not in SANDBOX_MODES or self.sandbox == "auto":
            raise ValueError(f"sandbox must be bwrap or rlimit, got {self.sandbox!r}")
        for name in ("cell_timeout", "notebook_wall", "memory_mb"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def cpu_seconds(self) -> int:
        """The kernel's CPU-time limit: a backstop behind the wall-clock limit."""
        return self.notebook_wall + 30

    def process_seconds(self, n_notebooks: int) -> int:
        """How long grading one student may take on its worker before the worker is killed."""
        return (self.notebook_wall + 60) * max(1, n_notebooks) + 60

    def describe_time(self) -> str:
        return f"{self.cell_timeout} s per cell, {self.notebook_wall} s per notebook"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GradingLimits:
        return cls(**json.loads(text))
