"""Shared data for the detection tests: the research lexicon (a copy kept with the tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LEXICON: dict[str, Any] = json.loads((Path(__file__).parent / "detect_lexicon.json").read_text("utf-8"))
"""shared/research/lexicon.json: keywords, countdown_examples, negative_examples."""
