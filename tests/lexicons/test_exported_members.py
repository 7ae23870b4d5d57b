import types

import lexicons


def test_all_is_sorted_and_complete():
    assert lexicons.__all__ == sorted(lexicons.__all__)
    public = {n for n in dir(lexicons) if not n.startswith("_")}
    modules = {n for n in public if isinstance(getattr(lexicons, n), types.ModuleType)}
    modules.add("annotations")
    assert set(lexicons.__all__) == public - modules


def test_architecture_contract_names_exist():
    for name in (
        "load_lexicon",
        "Lexicon",
        "Match",
        "StreamScanner",
        "StreamOutput",
        "LexiconError",
        "LexiconFormatError",
        "Taxonomy",
        "Category",
        "coverage_report",
    ):
        assert hasattr(lexicons, name), name
    assert issubclass(lexicons.LexiconFormatError, lexicons.LexiconError)
    assert issubclass(lexicons.LexiconError, ValueError)
    fields = lexicons.Match.__dataclass_fields__
    assert list(fields) == [
        "term",
        "category",
        "start",
        "end",
        "text",
        "action",
        "severity",
        "variant",
    ]
