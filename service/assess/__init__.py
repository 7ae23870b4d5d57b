"""``aigc-gateway assess``: the TC260-003 §9 assessment through the gateway.

``bank`` (question banks: JSONL, CSV/TSV, XLSX), ``runner`` (asking, judging, progress),
``refusal`` (refusal phrases), ``stats`` (Wilson intervals), ``report`` (report.json),
``render`` (Markdown, HTML, charts). The command is ``service/commands/assess.py``.
"""
