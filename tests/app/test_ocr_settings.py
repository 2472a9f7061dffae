"""The app's OCR settings (``monitor.ocr_settings``): the config's, with the rules' words."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from alerts.rules import load_rules
from monitor.core.config import Config, OcrConfig
from monitor.ocr_settings import configured_rules, ocr_settings


def test_the_settings_carry_the_configured_rules_words(tmp_path: Path) -> None:
    config = Config(ocr=OcrConfig(max_side=1200))
    shipped = ocr_settings(config)
    assert shipped.max_side == 1200  # the config's limits
    assert shipped.known_words == load_rules().vocabulary and "تتصورون" in shipped.known_words

    mine = tmp_path / "mine.toml"
    mine.write_text(
        '[[rule]]\nname = "ginger"\nseverity = "low"\nterms = ["زنجبيل مطحون"]\n', encoding="utf-8"
    )
    config = replace(config, alerts=replace(config.alerts, rules=mine))
    assert ocr_settings(config).known_words == ("زنجبيل", "مطحون")
    given = load_rules()  # rules already loaded (the daemon's detector) are used as they are
    assert ocr_settings(config, given).known_words == given.vocabulary


def test_a_broken_rules_file_reads_posters_without_its_words(tmp_path: Path, caplog) -> None:
    """Detection stops where it runs (``check``, the daemon); the reading of posters does not."""
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rule]]\nname = "x"\nseverity = "urgent"\nterms = ["a"]\n', encoding="utf-8")
    config = replace(Config(), alerts=replace(Config().alerts, rules=bad))
    with caplog.at_level(logging.WARNING, logger="monitor.ocr_settings"):
        assert configured_rules(config) is None
        assert ocr_settings(config).known_words == ()
    assert f"{bad}: rule 'x' (#1): unknown severity 'urgent'" in caplog.text
