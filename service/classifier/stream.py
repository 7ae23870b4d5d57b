"""Classifying one streamed text slot segment by segment, in ``hold`` or ``async`` mode.

Protocol-agnostic: the proxy feeds the text of one slot (a chat choice, a content block) as it
arrives and sends on what ``feed``/``ready``/``wait``/``finish`` release; it ends the stream
the protocol's way once ``cut`` is true. ``end`` says the slot's text is complete (its last
segment is classified now); ``notify`` is called whenever a verdict arrives, so a caller
serving many slots waits on one event instead of one ``wait`` per slot.

- ``hold``: a segment is released only once its verdict, and that of every segment before it,
  came back safe. The first unsafe segment is where the stream is cut: nothing from it on is
  ever released (text fed after an unsafe verdict is not even classified), and the cut is due
  once every segment before it has its verdict, so where the cut falls does not depend on the
  order verdicts arrive in. The cost is the hold-back: time to first token grows by the first
  segment's classification.
- ``async``: text is released at once; verdicts arrive later and the first unsafe one makes
  the cut due at once (text already sent stays sent).

Each segment is classified with up to ``context_chars`` of the text before it, so a
sentence is judged in context. Checks of several segments overlap (bounded by the guard
client's concurrency limit). ``check`` never raises: a guard failure comes back as a verdict
whose action follows the tenant's fail mode, and a failed-closed check cuts the stream like
an unsafe verdict.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .segments import Segmenter
from .verdict import Verdict

__all__ = ["GuardStream"]

Check = Callable[[str], Awaitable[Verdict]]


@dataclass(slots=True)
class _Segment:
    text: str
    task: asyncio.Task[Verdict]


class GuardStream:
    def __init__(
        self,
        check: Check,
        *,
        mode: str = "hold",
        segment_chars: int = 200,
        min_chars: int = 8,
        context_chars: int = 1000,
        clock: Callable[[], float] = time.perf_counter,
        notify: Callable[[], None] | None = None,
    ) -> None:
        if mode not in ("hold", "async"):
            raise ValueError(f"stream mode must be 'hold' or 'async', not {mode!r}")
        self.mode = mode
        self._check = check
        self._segmenter = Segmenter(segment_chars, min_chars)
        self._context_chars = context_chars
        self._context = ""
        self._segments: list[_Segment] = []
        self._head = 0  # next segment to release (hold)
        self._changed = asyncio.Event()
        self._clock = clock
        self._notify = notify
        self._unsafe: Verdict | None = None
        self._unseen: list[asyncio.Task[Verdict]] = []  # checks whose verdict is not noted
        self.verdicts: list[Verdict] = []  # in the order they were noted
        self.fed_chars = 0
        self.released_chars = 0
        self.max_holdback = 0
        self.first_fed_at: float | None = None
        self.first_released_at: float | None = None

    # -- feeding ---------------------------------------------------------------------------

    def feed(self, text: str) -> str:
        """Take the next piece of the slot's text; return what may be sent now."""
        if self.unsafe is not None:
            return self._release()  # nothing more is classified; hold: the safe part before
        if not text:
            return self._release()
        if self.first_fed_at is None:
            self.first_fed_at = self._clock()
        self.fed_chars += len(text)
        for segment in self._segmenter.feed(text):
            self._submit(segment)
        if self.mode == "async":
            return self._pass(text)
        released = self._release()
        self._note_holdback()
        return released

    def end(self) -> None:
        """The slot's text is complete: classify what the segmenter still holds, now."""
        rest = self._segmenter.flush()
        if rest and self.unsafe is None:
            self._submit(rest)

    def ready(self) -> str:
        """What verdicts that arrived since the last call let through (hold; "" in async)."""
        return self._release()

    async def wait(self) -> str:
        """Wait for the next verdict that matters (hold: the oldest unreleased segment's; async:
        any) and return what it lets through; returns at once when nothing is pending."""
        if not self.cut:
            if self.mode == "hold":
                head = self._segments[self._head].task if self._head < len(self._segments) else None
                pending = [head] if head is not None and not head.done() else []
            else:
                pending = [s.task for s in self._segments if not s.task.done()]
            await self._wait_any(pending)
        return self._release()

    async def settle(self) -> None:
        """Until every segment submitted so far has its verdict, or the cut is due."""
        while not self.cut:
            pending = [s.task for s in self._segments if not s.task.done()]
            if not pending:
                return
            await self._wait_any(pending)

    async def finish(self) -> str:
        """End of the slot: classify the rest, wait for the verdicts, return what is left to
        send (hold: up to the cut; async: ""). Checks still running are cancelled."""
        self.end()
        await self.settle()
        out = self._release()  # async mode released everything as it came
        self.close()
        return out

    def close(self) -> None:
        """Cancel checks still running (client gone, stream cut); verdicts in are noted."""
        self._catch_up()
        for segment in self._segments:
            if not segment.task.done():
                segment.task.cancel()

    # -- state and figures -----------------------------------------------------------------

    @property
    def unsafe(self) -> Verdict | None:
        """The first unsafe verdict noted (None: none so far)."""
        self._catch_up()
        return self._unsafe

    @property
    def cut(self) -> bool:
        """The stream must end here: async, an unsafe verdict arrived; hold, every segment
        before the first unsafe one has its (safe) verdict."""
        if self.unsafe is None:
            return False
        if self.mode == "async":
            return True
        for segment in self._segments:
            task = segment.task
            if not task.done():
                return False
            if task.cancelled() or _verdict_of(task).unsafe:
                return True
        return True  # unreachable: an unsafe verdict belongs to a segment

    @property
    def holdback(self) -> int:
        """Characters received and not (yet) released."""
        return self.fed_chars - self.released_chars

    @property
    def ttft_added(self) -> float | None:
        """Seconds from the first text received to the first text released (None: none)."""
        if self.first_fed_at is None or self.first_released_at is None:
            return None
        return self.first_released_at - self.first_fed_at

    @property
    def pending(self) -> int:
        return sum(1 for s in self._segments if not s.task.done())

    @property
    def settled(self) -> bool:
        """Every segment submitted so far has its verdict."""
        return all(s.task.done() for s in self._segments)

    def _catch_up(self) -> None:
        """Note the verdicts of finished checks (a task can be done before its done-callback
        ran: state is read from the tasks, never only from callbacks)."""
        if not self._unseen:
            return
        waiting = []
        for task in self._unseen:
            if not task.done():
                waiting.append(task)
            elif not task.cancelled():
                verdict = _verdict_of(task)
                self.verdicts.append(verdict)
                if verdict.unsafe and self._unsafe is None:
                    self._unsafe = verdict
        self._unseen = waiting

    # -- internals -------------------------------------------------------------------------

    def _submit(self, segment: str) -> None:
        keep = self._context_chars
        window = self._context[-keep:] + segment if keep else segment
        if keep:
            self._context = (self._context + segment)[-keep:]
        task = asyncio.ensure_future(self._check(window))
        task.add_done_callback(self._on_verdict)
        self._segments.append(_Segment(segment, task))
        self._unseen.append(task)

    def _on_verdict(self, task: asyncio.Task[Verdict]) -> None:
        if task.cancelled():
            return
        self._catch_up()
        self._changed.set()
        if self._notify is not None:
            self._notify()

    async def _wait_any(self, tasks: list[asyncio.Task[Verdict]]) -> None:
        """Until one of ``tasks`` is done or any verdict arrives."""
        if not tasks:
            return
        self._changed.clear()
        waiter = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({*tasks, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()

    def _pass(self, text: str) -> str:
        if self._unsafe is not None or not text:
            return ""
        if self.first_released_at is None:
            self.first_released_at = self._clock()
        self.released_chars += len(text)
        return text

    def _release(self) -> str:
        """Hold: the segments at the head whose verdicts are in and safe, in order."""
        if self.mode == "async":
            return ""
        out: list[str] = []
        while self._head < len(self._segments):
            segment = self._segments[self._head]
            if not segment.task.done() or segment.task.cancelled():
                break
            self._catch_up()  # the task may be done before its done-callback ran
            if _verdict_of(segment.task).unsafe:
                break  # the cut: nothing from here on
            out.append(segment.text)
            self._head += 1
        if not out:
            return ""
        text = "".join(out)
        if self.first_released_at is None:
            self.first_released_at = self._clock()
        self.released_chars += len(text)
        return text

    def _note_holdback(self) -> None:
        if self.holdback > self.max_holdback:
            self.max_holdback = self.holdback


def _verdict_of(task: asyncio.Task[Verdict]) -> Verdict:
    """The verdict of a finished check; a check that raised counts as failed closed."""
    if task.exception() is not None:
        return Verdict("block", None, "", "", "output", error="check_failed")
    return task.result()
