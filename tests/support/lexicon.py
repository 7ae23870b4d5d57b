"""The small test lexicon the gateway tests share: one term per action."""

from __future__ import annotations

from pathlib import Path

BLOCK = "爆炸物配方"  # a1.terrorism_extremism, action=block
MASK = "机密代号"  # a4.personal_info, action=mask
FLAG = "旗标词语"  # a1.false_harmful_info, action=flag


def write_test_lexicon(directory: Path) -> Path:
    """Write the three terms as a lexicon directory at ``directory`` and return it."""
    (directory / "a1.terrorism_extremism.txt").write_text(
        f"{BLOCK}\taction=block\n", encoding="utf-8"
    )
    (directory / "a4.personal_info.txt").write_text(f"{MASK}\taction=mask\n", encoding="utf-8")
    (directory / "a1.false_harmful_info.txt").write_text(f"{FLAG}\taction=flag\n", encoding="utf-8")
    return directory
