"""How long this disk takes to make one small write durable, back to back or after a pause.

The write pattern of one records commit at c=1 (SQLite WAL, ``synchronous = FULL``): 11 frames
of 24 + 4,096 bytes, then ``fdatasync``. ``--gap`` pauses between commits, as single requests
leave the disk idle; some virtual disks answer an isolated flush far slower than a busy one.

    python -m benchmarks.fsync_probe [--gap 0.002] [--count 400] [--frames 11]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

FRAME = 24 + 4096
SPAN = 1000 * 4096  # frames are overwritten in place, as a WAL after its first checkpoint


def probe(count: int, frames: int, gap: float, directory: str | None = None) -> list[float]:
    """``fdatasync`` times in seconds, one per commit of ``frames`` frames, in a file under
    ``directory`` (default: the temporary directory, ``TMPDIR``)."""
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        fd = os.open(os.path.join(tmp, "wal"), os.O_WRONLY | os.O_CREAT)
        try:
            os.write(fd, b"\0" * (SPAN + 100 * FRAME))
            os.fsync(fd)
            times, offset = [], 0
            for _ in range(count):
                for _ in range(frames):
                    os.pwrite(fd, b"h" * 24, offset)
                    os.pwrite(fd, b"p" * 4096, offset + 24)
                    offset = 0 if offset + FRAME > SPAN else offset + FRAME
                start = time.perf_counter()
                os.fdatasync(fd)
                times.append(time.perf_counter() - start)
                if gap:
                    time.sleep(gap)
            return times
        finally:
            os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gap", type=float, default=0.002, help="seconds between commits")
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--frames", type=int, default=11)
    args = parser.parse_args()
    times = sorted(probe(args.count, args.frames, args.gap))
    p50, p90 = times[len(times) // 2], times[int(len(times) * 0.9)]
    print(f"gap {args.gap} s: fdatasync p50 {p50 * 1e6:.0f} us, p90 {p90 * 1e6:.0f} us")


if __name__ == "__main__":
    main()
