"""BENCHMARKS.md holds one section per benchmark script; each script rewrites only its own.

A section sits between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`, so re-running one
benchmark never drops another's last recorded run.
"""

from __future__ import annotations

import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
TITLE = "# Benchmarks\n\nEach section is written by its script (`make bench` runs them all); ratios in a section come from one run.\n"


def write_section(name: str, markdown: str, path: Path = BENCHMARKS) -> None:
    """Replace (or append) the section `name` of BENCHMARKS.md with `markdown`."""
    text = path.read_text() if path.exists() else TITLE
    block = f"<!-- bench:{name} -->\n{markdown.strip()}\n<!-- /bench:{name} -->"
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
