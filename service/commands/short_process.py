"""Settings for a short command-line process that scans (``aigc-gateway scan``): it starts,
loads a lexicon, scans in pieces and exits, so what pays in a long-running server (threads
ready for work, memory handed back to the system) only costs it time."""

from __future__ import annotations

import os
import sys

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def prepare() -> None:
    """Call before numpy is imported; each setting is skipped where it does not apply. The
    command sets ``exit_now`` for :func:`exit_now` at its end (``service.cli``)."""
    single_threaded_blas()
    keep_freed_memory()


def single_threaded_blas() -> None:
    """Ask numpy's OpenBLAS for one thread, unless the user chose a number: when the library
    loads it starts a worker per CPU, and the workers spin for about 0.1 s of CPU waiting for
    work that never comes (the matcher uses numpy element-wise, never BLAS). Takes effect only
    before numpy is first imported."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def keep_freed_memory() -> None:
    """Keep memory the process frees for its next allocations (glibc only): by default glibc
    serves blocks from 128 KiB up with fresh ``mmap`` calls and hands the top of the heap back
    once more than a few MiB are free there, so every piece of a scan (tens of MiB of numpy
    temporaries, freed at its end) touches new pages: ~10k page faults more over a 7 MB text,
    ~10-20 ms of system time. Thresholds as set here hold for the process's life."""
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (ImportError, OSError, AttributeError, TypeError):  # not glibc (or no ctypes)
        return
    mallopt(_M_TRIM_THRESHOLD, 256 << 20)
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # glibc's maximum on 64-bit systems


def exit_now(status: int) -> None:
    """End the process without the interpreter's teardown, which frees every object the
    command built one by one (~10 ms after a scan: the compiled lexicon, numpy's modules).
    Only for a process the command owns, whose output is flushed here and which leaves
    nothing for ``atexit`` handlers or finalisers. Returns if a flush fails, so that the
    usual exit reports it."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(status)
