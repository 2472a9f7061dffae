"""The one exception tree of tgmonitor.

::

    MonitorError                 anything tgmonitor raises on purpose; the CLI prints it as one sentence
    ├── ConfigError              the config file does not parse, has an unknown key or a wrong type
    ├── RulesError               a rules file is invalid (names the file and the rule)
    ├── ExportError              a Telegram Desktop export is malformed (names the file and position)
    ├── ArchiveError             the archive cannot be opened or is from a newer tgmonitor
    ├── ImageError               an image cannot be read safely (empty, corrupt, too big, not an image)
    ├── OcrError                 Tesseract is missing, lacks a language, timed out or failed
    ├── TelegramSetupError       credentials or session missing or unusable
    ├── ChannelRefError          a channel reference (@name, t.me link, id) cannot be one
    └── DeliveryError            an alert sink failed; ``permanent`` says whether to retry
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base of every error tgmonitor raises on purpose."""


class ConfigError(MonitorError):
    """The config file is unusable."""


class RulesError(MonitorError):
    """A rules file is invalid."""


class ExportError(MonitorError):
    """A Telegram Desktop export is malformed."""


class ArchiveError(MonitorError):
    """The archive cannot be used."""


class ImageError(MonitorError):
    """An image cannot be read safely."""


class OcrError(MonitorError):
    """Tesseract cannot read an image (missing, timed out, crashed)."""


class TelegramSetupError(MonitorError):
    """Telegram credentials or session are missing or unusable."""


class ChannelRefError(MonitorError):
    """A channel reference is not one, or cannot be collected the way asked."""


class DeliveryError(MonitorError):
    """An alert could not be delivered to a sink."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
