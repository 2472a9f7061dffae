"""The OCR settings of the app: the config's, with the words of the alert rules.

Every place that reads posters (the daemon's pool, ``ocr``, ``check --image`` with the rules it
checks against, the web desk, the bot) makes its :class:`ocr.settings.OcrSettings` here, so that
a poster reads the same wherever it is read: the config's limits, and the rules' vocabulary as
words spelt beside Tesseract's dictionary (``OcrSettings.known_words``, ``ocr.dots``). The OCR
layer does not know the rules; this layer knows both.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from monitor.core.errors import RulesError

if TYPE_CHECKING:
    from alerts.rules import RuleSet
    from ocr.settings import OcrSettings

__all__ = ["configured_rules", "ocr_settings"]

log = logging.getLogger(__name__)


def ocr_settings(config: Any, rules: RuleSet | None = None) -> OcrSettings:
    """``config.ocr`` as OCR settings, with the vocabulary of ``rules`` (None: the configured
    rules, :func:`configured_rules`)."""
    from ocr.settings import OcrSettings  # why: the OCR engine loads only where posters are read

    if rules is None:
        rules = configured_rules(config)
    return OcrSettings.from_config(config.ocr, known_words=rules.vocabulary if rules is not None else ())


def configured_rules(config: Any) -> RuleSet | None:
    """The rules of ``config.alerts.rules`` (the shipped ones when it is not set); None, with a
    warning, when they cannot be read: a broken rules file stops detection where detection runs,
    not the reading of posters."""
    from alerts.rules import load_rules  # why: ~0.03 s, only where posters are read

    try:
        return load_rules(config.alerts.rules)
    except RulesError as exc:
        log.warning("OCR without the rules' words: %s", exc)
        return None
