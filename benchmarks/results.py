"""Keep ``benchmarks/RESULTS.md``: one section per benchmark, rewritten in place.

Each benchmark calls ``update_section(name, markdown, command)``; the section between
``<!-- BEGIN name -->`` and ``<!-- END name -->`` is replaced (or appended) together with the
machine, OS, Python and library versions, git commit, date and the command line. Other
sections are left byte for byte. An exclusive file lock serialises concurrent writers.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import platform
import re
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path

__all__ = ["DEFAULT_PATH", "environment", "update_section"]

_HERE = Path(__file__).parent
# In a source checkout the results belong to the repository's benchmarks/RESULTS.md; in an
# installed copy (site-packages) they go to the working directory, never into the install.
DEFAULT_PATH = (
    _HERE / "RESULTS.md"
    if (_HERE.parent / "pyproject.toml").is_file()
    else Path.cwd() / "aigc-gateway-RESULTS.md"
)
LIBRARIES = (
    "aiohttp",
    "uvicorn",
    "fastapi",
    "httpx",
    "orjson",
    "uvloop",
    "pyahocorasick",
    "numpy",
    "pillow",
    "matplotlib",
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

HEADER = """\
# Benchmark results

Latest figures of every benchmark in `benchmarks/`, each section written by the benchmark that
produced it (`benchmarks.results.update_section`) with the machine, versions and the exact command,
so anyone can rerun it. Benchmarks are hard: these are short runs on one small shared machine, the
load generator and the servers share its two cores, other work on the machine moves the figures
(each section records the load average when it was written), and your numbers will differ.
Rerun the command of a section to compare on your hardware; the ratios between rows of one table
are more telling than the absolute figures.
"""


def _cpu() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _os_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return f"{line.split('=', 1)[1].strip(chr(34))}, Linux {platform.release()}"
    return platform.platform()


def _git_commit(cwd: Path) -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def _load_average() -> str:
    # Recorded because other work on a shared machine moves the figures.
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} (1 min), {five:.2f} (5 min) when the section was written"


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment(libraries: Iterable[str] = LIBRARIES) -> dict[str, str]:
    """Machine, OS, Python, library versions, git commit and UTC date of this run."""
    versions = [f"{n} {v}" for n in libraries if (v := _version(n))]
    return {
        "machine": f"{_cpu()}, {os.cpu_count()} logical CPUs, {platform.machine()}",
        "os": _os_name(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "libraries": ", ".join(versions),
        "load average": _load_average(),
        "commit": _git_commit(Path(__file__).resolve().parent),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _render(name: str, markdown: str, command: str, env: dict[str, str], title: str) -> str:
    lines = [f"<!-- BEGIN {name} -->", f"## {title}", "", "```", command, "```", ""]
    lines += [f"- {key}: {value}" for key, value in env.items()]
    lines += ["", markdown.strip(), f"<!-- END {name} -->"]
    return "\n".join(lines)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    # The lock file lives outside the repository; the key is the results file's real path.
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    lock = Path(tempfile.gettempdir()) / f"aigc-gateway-results-{key}.lock"
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def update_section(
    name: str,
    markdown: str,
    command: str,
    *,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
    libraries: Iterable[str] = LIBRARIES,
) -> Path:
    """Write ``markdown`` as section ``name`` of RESULTS.md with environment and command.

    Parameters:
        name: section id (letters, digits, ``_.-``), e.g. ``"matcher"`` or ``"gateway-stream"``.
        markdown: the figures (tables, notes); no markers inside.
        command: the exact command line that produced them.
        title: section heading (default ``name``).
        path: results file (default ``benchmarks/RESULTS.md``), created with a header if absent.
        libraries: distributions whose versions are recorded.

    Returns the path written. The file is replaced atomically under an exclusive lock.
    """
    if not _NAME.match(name):
        raise ValueError(f"section name {name!r}: use letters, digits, '_', '.', '-'")
    if "<!-- BEGIN " in markdown or "<!-- END " in markdown:
        raise ValueError("markdown must not contain section markers")
    target = Path(path) if path is not None else DEFAULT_PATH
    section = _render(name, markdown, command, environment(libraries), title or name)
    with _locked(target):
        text = target.read_text(encoding="utf-8") if target.exists() else HEADER
        pattern = re.compile(
            rf"<!-- BEGIN {re.escape(name)} -->.*?<!-- END {re.escape(name)} -->", re.S
        )
        if pattern.search(text):
            text = pattern.sub(lambda _: section, text, count=1)
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".RESULTS.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    return target
