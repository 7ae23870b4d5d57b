"""``GuardStream``: hold releases a segment only once classified safe and cuts at the first
unsafe segment, whatever order the verdicts arrive in; async releases at once and reports the
unsafe verdict for the cut."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.classifier import GuardStream, Verdict


def verdict(unsafe: bool) -> Verdict:
    return Verdict(
        "block" if unsafe else "allow", "unsafe" if unsafe else "safe", "b", "m", "output"
    )


class Script:
    """A check whose verdicts the test hands out, in any order."""

    def __init__(self) -> None:
        self.windows: list[str] = []
        self.futures: list[asyncio.Future[Verdict]] = []

    async def __call__(self, window: str) -> Verdict:
        future: asyncio.Future[Verdict] = asyncio.get_running_loop().create_future()
        self.windows.append(window)
        self.futures.append(future)
        return await future

    def answer(self, i: int, unsafe: bool = False) -> None:
        self.futures[i].set_result(verdict(unsafe))


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_hold_releases_in_order_once_classified() -> None:
    script = Script()
    s = GuardStream(script, mode="hold", segment_chars=50, min_chars=1, context_chars=100)
    assert s.feed("第一句话。第二") == ""
    assert s.feed("句话。第三") == ""
    await settle()
    assert script.windows == ["第一句话。", "第一句话。第二句话。"]  # context: the text before
    assert s.holdback == len("第一句话。第二句话。第三")
    script.answer(1)
    await settle()
    assert s.feed("") == ""  # the first segment is still being classified
    script.answer(0)
    assert await s.wait() == "第一句话。第二句话。"
    rest = asyncio.ensure_future(s.finish())
    await settle()
    script.answer(2)
    assert await rest == "第三"
    assert s.unsafe is None and s.holdback == 0 and s.ttft_added is not None


async def test_hold_cuts_at_the_first_unsafe_segment_whatever_the_order() -> None:
    script = Script()
    s = GuardStream(script, mode="hold", segment_chars=50, min_chars=1)
    s.feed("安全的一句。危险的一句。后面的一句。")
    await settle()
    script.answer(1, unsafe=True)  # the second segment's verdict comes first, and is unsafe
    assert await s.wait() == ""
    assert s.unsafe is not None and not s.cut  # the first segment is still being judged
    script.answer(0)  # safe: it is before the cut, so it goes out
    assert await s.wait() == "安全的一句。"
    assert s.cut
    script.answer(2)
    assert await s.wait() == ""
    assert s.feed("更多文字。") == ""
    assert await s.finish() == ""
    assert s.released_chars == len("安全的一句。")
    assert len(script.windows) == 3  # text fed after the unsafe verdict is not classified


async def test_async_releases_at_once_and_reports_unsafe() -> None:
    script = Script()
    s = GuardStream(script, mode="async", segment_chars=50, min_chars=1)
    assert s.feed("第一句。") == "第一句。"
    assert s.feed("第二句。第") == "第二句。第"
    await settle()
    script.answer(0)
    script.answer(1, unsafe=True)
    await s.wait()
    assert s.unsafe is not None and s.unsafe.unsafe
    assert s.feed("三句。") == ""  # cut: nothing more is sent
    finish = asyncio.ensure_future(s.finish())
    await settle()
    for i in range(2, len(script.futures)):
        script.answer(i)
    assert await finish == ""
    assert s.ttft_added == pytest.approx(0.0, abs=0.05) or s.ttft_added >= 0


async def test_a_raising_check_counts_as_failed_closed() -> None:
    async def broken(window: str) -> Verdict:
        raise RuntimeError("boom")

    s = GuardStream(broken, mode="hold", min_chars=1)
    s.feed("一句话。")
    assert await s.finish() == ""
    assert s.unsafe is not None and s.unsafe.error == "check_failed"


async def test_close_cancels_pending_checks() -> None:
    script = Script()
    s = GuardStream(script, mode="hold", min_chars=1)
    s.feed("一。二。")
    await settle()
    s.close()
    await settle()
    assert all(f.cancelled() for f in script.futures)


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("甲乙丙丁。！")), min_size=1, max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=6),
    unsafe_every=st.integers(1, 6),
    seed=st.integers(0, 10_000),
)
def test_hold_invariant_for_any_chunking_and_verdict_order(
    text: str, cuts: list[int], unsafe_every: int, seed: int
) -> None:
    """Released text is exactly the segments before the first unsafe one (all of them when
    none is unsafe), for any chunking and any order of verdicts."""

    async def run() -> None:
        script = Script()
        s = GuardStream(script, mode="hold", segment_chars=8, min_chars=2, context_chars=0)
        released = ""
        pieces, last = [], 0
        for cut in sorted(set(c % (len(text) + 1) for c in cuts)):
            pieces.append(text[last:cut])
            last = cut
        pieces.append(text[last:])
        for piece in pieces:
            released += s.feed(piece)
        finish = asyncio.ensure_future(s.finish())
        await settle()
        order = list(range(len(script.futures)))
        random.Random(seed).shuffle(order)
        for i in order:
            if script.futures[i].done():  # cancelled: after the cut, once the rest was judged
                continue
            script.answer(i, i % unsafe_every == unsafe_every - 1)
            released += await s.wait()
        released += await finish
        windows = script.windows  # context_chars=0: each window is exactly one segment
        assert "".join(windows) == text
        bad = [i for i in range(len(windows)) if i % unsafe_every == unsafe_every - 1]
        assert released == ("".join(windows[: bad[0]]) if bad else text)

    asyncio.run(run())
