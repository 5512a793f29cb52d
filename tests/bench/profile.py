"""Where the time goes: CPU per registration in each process, and py-spy's view of ours.

CPU seconds come from /proc (what each process used while a known number of registrations went
through), so they hold however busy the machine is. py-spy, where installed, samples the
processes meanwhile; its report keeps our own frames (services/, shared/), inclusive, so a
line says "this use case, with everything it called, took this share of the process".
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

OURS = ("services/", "shared/")
ENTRY = "shared/cli/"  # the command that runs the server: in every sample
SAMPLES_PER_SECOND = 50
WAITING = ("EpollSelector.select", "Condition.wait", "Queue.get", "_connection_worker_thread")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Profile:
    cpu_s: dict[str, float] = field(default_factory=dict)
    hot: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    def per_item_ms(self, items: int) -> dict[str, float]:
        return {name: round(1000 * s / items, 2) for name, s in self.cpu_s.items()} if items else {}


@contextmanager
def profiling(processes: dict[str, int], seconds: float) -> Iterator[Profile]:
    """CPU used by each process within the block; py-spy samples for `seconds` if present."""
    profile = Profile()
    spy = shutil.which("py-spy") or _venv_py_spy()
    outdir = Path(tempfile.mkdtemp(prefix="brug-profile-"))
    spies = {}
    if spy:
        for name, pid in processes.items():
            spies[name] = subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(max(int(seconds), 1)),
                    "--rate",
                    str(SAMPLES_PER_SECOND),
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--output",
                    str(outdir / f"{name}.raw"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    try:
        yield profile
    finally:
        profile.cpu_s = {
            name: round(cpu_seconds(pid) - before[name], 3) for name, pid in processes.items()
        }
        for name, process in spies.items():
            process.wait(timeout=seconds + 30)
            raw = outdir / f"{name}.raw"
            if raw.exists():
                profile.hot[name] = hottest(raw.read_text())
        shutil.rmtree(outdir, ignore_errors=True)


def _venv_py_spy() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else None


def hottest(raw: str, top: int = 10) -> list[tuple[str, float]]:
    """Our functions by inclusive share of the samples in which the process was busy."""
    inclusive: collections.Counter[str] = collections.Counter()
    busy = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        leaf = stack.rsplit(";", 1)[-1]
        if not stack or leaf.startswith(WAITING):
            continue  # the event loop or a driver thread waiting: not busy
        n = int(count)
        busy += n
        seen = set()
        for frame in stack.split(";"):
            name, _, where = frame.partition(" (")
            if where.startswith(OURS) and not where.startswith(ENTRY) and name not in seen:
                seen.add(name)
                inclusive[f"{name} ({where.split(':')[0]})"] += n
    return [(f, round(100 * n / busy, 1)) for f, n in inclusive.most_common(top)] if busy else []
