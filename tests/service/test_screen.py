"""``screen_for``: the streaming mask predicate agrees with the one-shot policy decision."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.config import load_settings
from service.moderation import screen_for
from service.runtime import Runtime, build_snapshot
from tests.service.conftest import DRUGS, GAMBLING, write_lexicon


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    root = tmp_path_factory.mktemp("screen")
    d = write_lexicon(
        root / "lex",
        {f"{GAMBLING}.txt": "网上赌场\n百家乐\n", f"{DRUGS}.txt": "冰毒\n大麻\taction=flag\n"},
    )
    # gambling masked on output, drugs only flagged on output: the policy overrides the lexicon
    policy = {"output": {GAMBLING: "mask", DRUGS: "flag"}}
    s = load_settings(lexicons=[d], data_dir=root / "var", policy=policy)
    return Runtime(s, build_snapshot(s), recorder=None)  # screening never records


alphabet = st.sampled_from(list("网上赌场網賭場百家乐樂冰毒大麻 　天气好"))


@settings(max_examples=120, deadline=None)
@given(text=st.text(alphabet, max_size=40), cuts=st.lists(st.integers(0, 40), max_size=6))
def test_stream_equals_one_shot(runtime: Runtime, text: str, cuts: list[int]) -> None:
    screen = screen_for(runtime, runtime.tenants.default, "output")
    whole = screen.moderate(text)
    scanner = screen.scanner()
    bounds = sorted({0, len(text), *(c for c in cuts if c <= len(text))})
    out, matches = [], []
    for a, b in zip(bounds, bounds[1:], strict=False):
        step = scanner.feed(text[a:b])
        out.append(step.text)
        matches += step.matches
    end = scanner.flush()
    out.append(end.text)
    matches += end.matches
    assert "".join(out) == whole.masked_text
    decided = [(m.start, m.end, screen.action(m)) for m in matches]
    assert decided == [(mm.match.start, mm.match.end, mm.action) for mm in whole.matches]
    assert all(a in ("mask", "flag") for *_, a in decided)  # the policy, not the lexicon (block)


def test_direction_and_profile_change_the_decision(runtime: Runtime) -> None:
    tenant = runtime.tenants.default
    out = screen_for(runtime, tenant, "output").moderate("网上赌场 大麻")
    inp = screen_for(runtime, tenant, "input").moderate("网上赌场 大麻")
    minor = screen_for(runtime, tenant, "output", profile="minor").moderate("网上赌场 大麻")
    assert [m.action for m in out.matches] == ["mask", "flag"]
    assert [m.action for m in inp.matches] == ["block", "flag"]  # lexicon defaults
    assert [m.action for m in minor.matches] == ["block", "mask"]  # high severity -> block
    assert minor.masked_text == "**** **"
    with pytest.raises(ValueError, match="direction"):
        screen_for(runtime, tenant, "sideways")


def test_screen_keeps_its_snapshot(runtime: Runtime) -> None:
    screen = screen_for(runtime, runtime.tenants.default, "input")
    assert screen.lexicon is runtime.snapshot.lexicon
    assert screen.lexicon_version == runtime.lexicon.version
