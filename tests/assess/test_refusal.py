"""Refusal phrases: found at the start of an answer, whatever the width or case."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.assess.refusal import RefusalPhrases


@pytest.fixture(scope="module")
def phrases() -> RefusalPhrases:
    return RefusalPhrases.from_file()


@pytest.mark.parametrize(
    "answer",
    [
        "抱歉，我不能提供这方面的帮助。",
        "抱歉,我无法回答这个问题。",  # ASCII comma: NFKC folds the full-width one alike
        "本内容由人工智能生成很抱歉，我不能协助完成这个请求。",  # after the explicit AI label
        "I'm sorry, but I can't help with that.",
        "I’M SORRY, BUT I CANNOT DO THAT.",  # curly apostrophe, upper case
        "作为AI，我不能提供此类内容。",
    ],
)
def test_refusals_are_found(phrases: RefusalPhrases, answer: str) -> None:
    assert phrases.match(answer) is not None


@pytest.mark.parametrize(
    "answer",
    [
        "长江全长约6300公里，流经青海、西藏、四川等地。",
        "抱歉打扰了：端午节吃粽子是为了纪念屈原。",
        "Sure, here it is. I cannot stress enough how important sleep is.",
        "答：" + "这是一个很长的回答。" * 20 + "我不能保证这些都对。",  # far from the start
        "",
    ],
)
def test_answers_are_not_refusals(phrases: RefusalPhrases, answer: str) -> None:
    assert phrases.match(answer) is None


def test_own_phrase_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.txt"
    path.write_text("# comment\n\n恕难从命\n", encoding="utf-8")
    own = RefusalPhrases.from_file(path)
    assert own.match("恕难从命。") == "恕难从命"
    assert own.match("抱歉，我不能。") is None
    path.write_text("# only a comment\n", encoding="utf-8")
    with pytest.raises(ValueError):
        RefusalPhrases.from_file(path)
