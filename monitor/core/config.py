"""Configuration: defaults in code, a TOML file overrides them, secrets only from the environment.

The file format is the contract in ``shared/DESIGN.md``. Every key is optional. A file that does
not parse, an unknown key or a value of the wrong type raises :class:`ConfigError` with one
sentence naming the file and the key, before anything connects anywhere.

Secrets (``TG_API_ID``, ``TG_API_HASH``, ``TG_SESSION``, bot tokens, webhook secrets) are never
read from the config file: the file only names the environment variable that holds them, or a
0600 file (``*_file`` keys) whose permissions are checked.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
import types
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from monitor.core.detection import SEVERITIES
from monitor.core.errors import ChannelRefError, ConfigError
from monitor.core.refs import parse_ref

SINK_TYPES = ("telegram", "webhook", "jsonl", "console")


def xdg_data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "tgmonitor"


def xdg_config_home() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "tgmonitor"


def _default_workers() -> int:
    return max(1, os.cpu_count() or 1)


COLLECTION_MODES = ("join", "watch")


@dataclass
class ChannelConfig:
    """One ``[[telegram.channel]]``: a channel with its own mode or account (issue 13)."""

    ref: str | int = ""
    mode: str | None = None  # join | watch; default: telegram.mode
    account: str | None = None  # default: spread over the pool


@dataclass
class AccountConfig:
    """One ``[[telegram.account]]`` of the pool: its session (file or environment) and role."""

    name: str = ""
    session: Path | None = None  # default: <name>.session beside telegram.session
    session_env: str | None = None  # a string session in this variable wins over the file
    standby: bool = False  # takes channels only when another account is lost

    def session_file(self, telegram: TelegramConfig) -> Path:
        """Its session file: ``session``, else ``<name>.session`` beside ``telegram.session``."""
        return self.session or Path(telegram.session).with_name(f"{self.name}.session")

    def session_variable(self, telegram: TelegramConfig) -> str:
        """The variable a string session is read from: ``session_env``, else ``TG_SESSION_<NAME>``."""
        return self.session_env or f"{telegram.session_env}_{self.name.upper().replace('-', '_')}"

    @staticmethod
    def find(telegram: TelegramConfig, name: str) -> AccountConfig:
        """The pool's account of that name; an unknown name is one sentence."""
        for account in telegram.account:
            if account.name == name:
                return account
        known = ", ".join(a.name for a in telegram.account) or "none: add [[telegram.account]] entries"
        raise ConfigError(f"unknown account {name!r} (accounts in the config: {known})")


@dataclass
class TelegramConfig:
    channels: list[str | int] = field(default_factory=list)
    channel: list[ChannelConfig] = field(default_factory=list)
    account: list[AccountConfig] = field(default_factory=list)
    # How a channel is collected unless it says: "watch" polls updates.getChannelDifference and
    # never joins (admins cannot see the account); "join" subscribes and gets pushed updates.
    mode: str = "watch"
    poll_min_seconds: float = 10.0  # a busy watched channel is polled this often
    poll_max_seconds: float = 300.0  # a quiet one this rarely
    join_check_seconds: float = 120.0  # a joined channel's pts is checked this often
    requests_per_minute: int = 60  # polling budget per account (GetChannelDifference calls)
    join_interval_seconds: float = 20.0  # joins are spaced at least this far apart per account
    channels_per_account: int = 400  # Telegram's hard limit is 500 (CHANNELS_TOO_MUCH)
    long_flood_wait_seconds: int = 600  # an account flood-waited longer hands its channels over
    silence_factor: float = 6.0  # silent this many times its usual gap: a health alert
    silence_min_hours: float = 2.0  # ...and never sooner than this
    session: Path = field(default_factory=lambda: xdg_data_home() / "tgmonitor.session")
    api_id_env: str = "TG_API_ID"
    api_hash_env: str = "TG_API_HASH"
    session_env: str = "TG_SESSION"
    flood_sleep_threshold: int = 60
    connection_retries: int = 5
    download_documents_max_bytes: int = 0  # 0: record non-image documents, do not download


@dataclass
class ArchiveConfig:
    path: Path = field(default_factory=lambda: xdg_data_home() / "archive.db")
    media_dir: Path | None = None  # default: "media" beside the archive
    import_workers: int = 0  # processes for large imports; 0: one per core (at most 4), 1: none

    def media_path(self) -> Path:
        return self.media_dir or self.path.parent / "media"


@dataclass
class OcrConfig:
    enabled: bool = True
    languages: str = "ara+eng"
    workers: int = field(default_factory=_default_workers)
    timeout: float = 60.0
    max_pixels: int = 40_000_000
    max_bytes: int = 25 * 1024 * 1024
    max_side: int = 1600  # long side capped before OCR (Tesseract time grows steeply with size)
    pass_timeout: float = 3.0  # CPU seconds: a Tesseract pass using more is skipped (grain bogs psm 11 down)
    queue_size: int = 64
    # Clips (issue 18): videos, video stickers, GIFs and round video notes up to this size are
    # downloaded and read at their key frames (ocr.video); bigger ones are recorded as skipped.
    video_max_bytes: int = 20 * 1024 * 1024
    video_max_frames: int = 8  # key frames read per clip: start, scene changes, last
    video_timeout: float = 60.0  # seconds FFmpeg may take to cut one clip's frames
    # How Tesseract runs (issue 18): "library" (tesserocr built against Debian's libtesseract, in
    # the OCR workers: the models load once per worker, the same readings as the command) or
    # "command" (a `tesseract` run per batch of passes; bench/README.md, OCR speed).
    tesseract: str = "library"
    # How much of a poster is read (issue 18): "thorough" (every plane and mask, the rows re-read
    # from three planes) or "quick" (no blue plane, the rows re-read from the grey plane alone: a
    # sixth less time, every quality floor of the issue held, a few flag and fire posters' words
    # and countdowns fewer; bench/README.md, "Stop 53").
    reading: str = "thorough"


TESSERACT_MODES = ("command", "library")
"""The values of ``[ocr] tesseract``."""
READINGS = ("quick", "thorough")
"""The values of ``[ocr] reading`` (their passes: ``ocr.settings.READING_PASSES``)."""


@dataclass
class SinkConfig:
    type: str = "console"
    name: str | None = None
    min_severity: str | None = None
    # telegram
    chat: str | int | None = None
    bot_token_env: str | None = None
    # webhook
    url: str | None = None
    secret_env: str | None = None
    timeout: float = 10.0
    format: str = "json"  # json | slack | discord
    # jsonl
    path: Path | None = None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        target = self.chat or self.url or self.path or ""
        return f"{self.type}:{target}" if target else self.type


@dataclass
class AlertsConfig:
    rules: Path | None = None
    min_severity: str = "medium"
    sink: list[SinkConfig] = field(default_factory=list)
    campaign_window_hours: float = 24.0
    reminder_offsets_hours: list[float] = field(default_factory=lambda: [24.0, 0.0])
    burst_limit: int = 20
    burst_window_seconds: int = 60
    retry_max_seconds: float = 600.0
    campaign_hold_seconds: float = 60.0  # a campaign alert waits this long for more channels to join


@dataclass
class ScheduleConfig:
    gapfill_minutes: float = 10.0
    pending_minutes: float = 1.0
    digest_hour_utc: int = 8
    fts_optimize_hours: float = 24.0


@dataclass
class EvidenceConfig:
    """``[evidence]``: the hash chain's daily head (issue 16)."""

    tsa_url: str | None = None  # an RFC 3161 time-stamping authority: the daily head is stamped by it
    tsa_timeout: float = 30.0
    head_sinks: list[str] = field(default_factory=list)  # names of the sinks the daily head goes to


@dataclass
class BotConfig:
    """The bot desk (``tgmonitor bot``, and inside ``tgmonitor run``): who may talk to it.

    ``allowed_chats`` are the groups (ids like ``-1001234567890`` or @usernames) where it answers;
    ``allowed_users`` (ids or @usernames) who may use it, in those groups and in a private chat.
    With ``allowed_users`` empty, every member of an allowed chat may. ``token_env`` names the
    bot token's variable (default: the Telegram sink's ``bot_token_env``).
    """

    enabled: bool = False
    token_env: str | None = None
    allowed_chats: list[str | int] = field(default_factory=list)
    allowed_users: list[str | int] = field(default_factory=list)
    page_size: int = 5  # search results per page


@dataclass
class WebConfig:
    """The web desk (``tgmonitor serve``, and inside ``tgmonitor run`` when ``enabled``)."""

    enabled: bool = False
    host: str = "127.0.0.1"  # any other address requires users (tgmonitor users add NAME)
    port: int = 8750
    base_url: str | None = None  # e.g. "https://desk.example.org": alert messages link to the post's page


@dataclass
class Config:
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    archive: ArchiveConfig = field(default_factory=ArchiveConfig)
    ocr: OcrConfig = field(default_factory=OcrConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)
    bot: BotConfig = field(default_factory=BotConfig)
    web: WebConfig = field(default_factory=WebConfig)
    source: Path | None = None


def default_config_path() -> Path:
    return xdg_config_home() / "config.toml"


def load_config(path: Path | str | None = None) -> Config:
    """Read the config file at ``path`` (or ``TGMONITOR_CONFIG``, or the XDG default if it exists)."""
    explicit = path is not None or bool(os.environ.get("TGMONITOR_CONFIG"))
    chosen = Path(path or os.environ.get("TGMONITOR_CONFIG") or default_config_path()).expanduser()
    if not chosen.exists():
        if explicit:
            raise ConfigError(f"config file {chosen} does not exist")
        return Config()
    try:
        data = tomllib.loads(chosen.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{chosen}: not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{chosen}: cannot be read ({exc})") from None
    config = parse_config(data, source=chosen)
    return config


def parse_config(data: dict[str, Any], source: Path | None = None) -> Config:
    """Build a :class:`Config` from parsed TOML, checking every key and type."""
    where = str(source) if source else "config"
    config = _build(Config, {k: v for k, v in data.items()}, where, "", base=source)
    config.source = source
    _check_values(config, where)
    return config


def _build(cls: type, data: Any, where: str, prefix: str, base: Path | None) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: [{prefix.rstrip('.')}] must be a table")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls) if f.name != "source"}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(f"{where}: unknown key '{name}'")
        kwargs[key] = _coerce(hints[key], value, where, name, base)
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str, name: str, base: Path | None) -> Any:
    origin = get_origin(hint)
    args = get_args(hint)
    if hint in (
        TelegramConfig,
        ArchiveConfig,
        OcrConfig,
        AlertsConfig,
        ScheduleConfig,
        SinkConfig,
        EvidenceConfig,
        BotConfig,
        WebConfig,
        ChannelConfig,
        AccountConfig,
    ):
        return _build(hint, value, where, f"{name}.", base)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: '{name}' must be a list, got {_describe(value)}")
        return [_coerce(args[0], v, where, f"{name}[{i}]", base) for i, v in enumerate(value)]
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        for option in options:
            try:
                return _coerce(option, value, where, name, base)
            except ConfigError:
                continue
        expected = " or ".join(_type_name(o) for o in options)
        raise ConfigError(f"{where}: '{name}' must be {expected}, got {_describe(value, name)}")
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is Path and isinstance(value, str) and value:
        path = Path(value).expanduser()
        if not path.is_absolute() and base is not None:
            path = base.parent / path
        return path
    raise ConfigError(f"{where}: '{name}' must be {_type_name(hint)}, got {_describe(value, name)}")


def _type_name(hint: Any) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", Path: "a path"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def _describe(value: Any, name: str = "") -> str:
    if name.endswith("_env"):  # why: what was pasted where a variable's name belongs may be the secret
        return f"a {type(value).__name__}"
    text = repr(value)
    return text if len(text) < 40 else text[:37] + "..."


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_RANGES: dict[str, tuple[float, float, str]] = {
    "telegram.flood_sleep_threshold": (0, 86_400, " seconds"),
    "telegram.connection_retries": (0, 100, ""),
    "telegram.download_documents_max_bytes": (0, 4 << 30, " bytes (0: do not download)"),
    "telegram.poll_min_seconds": (1, 3600, " seconds"),
    "telegram.poll_max_seconds": (1, 86_400, " seconds"),
    "telegram.join_check_seconds": (1, 86_400, " seconds"),
    "telegram.requests_per_minute": (1, 600, " requests"),
    "telegram.join_interval_seconds": (0, 86_400, " seconds"),
    "telegram.channels_per_account": (1, 500, " channels (Telegram allows 500)"),
    "telegram.long_flood_wait_seconds": (1, 86_400, " seconds"),
    "telegram.silence_factor": (1.5, 1000, ""),
    "telegram.silence_min_hours": (0.01, 8760, " hours"),
    "archive.import_workers": (0, 64, " (0: one per core)"),
    "ocr.workers": (1, 256, ""),
    "ocr.timeout": (1, 3600, " seconds"),
    "ocr.max_pixels": (10_000, 1_000_000_000, " pixels"),
    "ocr.max_bytes": (1024, 1 << 30, " bytes"),
    "ocr.max_side": (100, 20_000, " pixels"),
    "ocr.pass_timeout": (0.5, 3600, " CPU seconds"),
    "ocr.queue_size": (1, 100_000, ""),
    "ocr.video_max_bytes": (0, 2 << 30, " bytes (0: do not read videos)"),
    "ocr.video_max_frames": (1, 64, " frames"),
    "ocr.video_timeout": (1, 3600, " seconds"),
    "alerts.campaign_window_hours": (0.1, 8760, " hours"),
    "alerts.reminder_offsets_hours": (0, 8760, " hours"),
    "alerts.burst_limit": (1, 10_000, " alerts"),
    "alerts.burst_window_seconds": (1, 86_400, " seconds"),
    "alerts.retry_max_seconds": (1, 604_800, " seconds"),
    "alerts.campaign_hold_seconds": (0, 86_400, " seconds"),
    "alerts.sink.timeout": (1, 300, " seconds"),
    "schedule.gapfill_minutes": (1, 10_080, " minutes"),
    "schedule.pending_minutes": (0.1, 1440, " minutes"),
    "schedule.digest_hour_utc": (0, 23, ""),
    "schedule.fts_optimize_hours": (1, 8760, " hours"),
    "evidence.tsa_timeout": (1, 600, " seconds"),
    "bot.page_size": (1, 10, " results"),
    "web.port": (1, 65535, ""),
}
"""The allowed range of every numeric key (a sink's keys under ``alerts.sink``): a nonsense value
(a negative burst limit, ``max_bytes = 0``, ``timeout = 0.001``) would otherwise be accepted and
make OCR or delivery fail silently later."""


def _check_range(where: str, key: str, value: float, rule: str) -> None:
    low, high, unit = _RANGES[rule]
    if not low <= value <= high:
        raise ConfigError(f"{where}: '{key}' must be between {low:g} and {high:g}{unit}, got {value:g}")


def _check_env_name(where: str, key: str, value: str | None) -> None:
    # why: the value is never echoed: a pasted token or hash would end up in a terminal or a log
    if value is not None and not _ENV_NAME.fullmatch(value):
        raise ConfigError(
            f"{where}: '{key}' must name an environment variable (like TG_API_HASH), "
            "not hold the secret itself: put the secret in that variable"
        )


def _check_numbers(config: Config, where: str) -> None:
    for rule in _RANGES:
        section, _, name = rule.partition(".")
        if section == "alerts" and name.startswith("sink."):
            field_name = name.removeprefix("sink.")
            for i, sink in enumerate(config.alerts.sink):
                _check_range(where, f"alerts.sink[{i}].{field_name}", getattr(sink, field_name), rule)
            continue
        value = getattr(getattr(config, section), name)
        if isinstance(value, list):
            for i, item in enumerate(value):
                _check_range(where, f"{rule}[{i}]", item, rule)
        else:
            _check_range(where, rule, value, rule)


def _check_values(config: Config, where: str) -> None:
    if config.alerts.min_severity not in SEVERITIES:
        raise ConfigError(
            f"{where}: 'alerts.min_severity' must be one of {', '.join(SEVERITIES)}, "
            f"got {config.alerts.min_severity!r}"
        )
    if config.ocr.tesseract not in TESSERACT_MODES:
        raise ConfigError(
            f"{where}: 'ocr.tesseract' must be one of {', '.join(TESSERACT_MODES)}, got {config.ocr.tesseract!r}"
        )
    if config.ocr.reading not in READINGS:
        raise ConfigError(
            f"{where}: 'ocr.reading' must be one of {', '.join(READINGS)}, got {config.ocr.reading!r}"
        )
    _check_numbers(config, where)
    # every key ending in _env names the environment variable of a secret
    named: list[tuple[str, Any]] = [("telegram", config.telegram), ("bot", config.bot)]
    named += [(f"alerts.sink[{i}]", s) for i, s in enumerate(config.alerts.sink)]
    named += [(f"telegram.account[{i}]", a) for i, a in enumerate(config.telegram.account)]
    for prefix, part in named:
        for f in fields(part):
            if f.name.endswith("_env"):
                _check_env_name(where, f"{prefix}.{f.name}", getattr(part, f.name))
    for i, sink in enumerate(config.alerts.sink):
        key = f"alerts.sink[{i}]"
        if sink.type not in SINK_TYPES:
            raise ConfigError(
                f"{where}: '{key}.type' must be one of {', '.join(SINK_TYPES)}, got {sink.type!r}"
            )
        if sink.min_severity is not None and sink.min_severity not in SEVERITIES:
            raise ConfigError(f"{where}: '{key}.min_severity' must be one of {', '.join(SEVERITIES)}")
        if sink.type == "telegram" and sink.chat is None:
            raise ConfigError(f"{where}: '{key}.chat' is required for a telegram sink")
        if sink.type == "webhook":
            if not sink.url or not sink.url.startswith(("http://", "https://")):
                raise ConfigError(f"{where}: '{key}.url' must be an http(s) URL for a webhook sink")
            if sink.format not in ("json", "slack", "discord"):
                raise ConfigError(f"{where}: '{key}.format' must be json, slack or discord")
        if sink.type == "jsonl" and sink.path is None:
            raise ConfigError(f"{where}: '{key}.path' is required for a jsonl sink")
    tsa = config.evidence.tsa_url
    if tsa is not None and not tsa.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: 'evidence.tsa_url' must be an http(s) URL, got {_describe(tsa)}")
    for i, channel in enumerate(config.telegram.channels):
        if isinstance(channel, str) and not channel.strip():
            raise ConfigError(f"{where}: 'telegram.channels[{i}]' is empty")
    _check_bot(config, where)
    _check_web(config.web, where)
    _check_collection(config.telegram, where)


_TG_NAME = re.compile(r"@?[A-Za-z][A-Za-z0-9_]{3,31}")


def bot_token_env(config: Config) -> str | None:
    """The variable holding the bot desk's token: ``[bot] token_env``, else the Telegram sink's."""
    if config.bot.token_env:
        return config.bot.token_env
    return next(
        (s.bot_token_env for s in config.alerts.sink if s.type == "telegram" and s.bot_token_env), None
    )


def _check_bot(config: Config, where: str) -> None:
    """``[bot]``: every allowed chat or user is an id or an @username; an enabled bot has a token
    and someone to answer (a bot open to everyone would hand the archive to anyone who finds it)."""
    bot = config.bot
    for key in ("allowed_chats", "allowed_users"):
        for i, ref in enumerate(getattr(bot, key)):
            text = str(ref).strip()
            if not (re.fullmatch(r"-?\d{1,20}", text) or _TG_NAME.fullmatch(text)):
                raise ConfigError(
                    f"{where}: 'bot.{key}[{i}]' must be a numeric id or an @username, got {_describe(ref)}"
                )
    if not bot.enabled:
        return
    if not bot.allowed_chats and not bot.allowed_users:
        raise ConfigError(
            f"{where}: [bot] is enabled but 'bot.allowed_chats' and 'bot.allowed_users' are both empty: "
            "name the analysts' group or users"
        )
    if bot_token_env(config) is None:
        raise ConfigError(
            f"{where}: [bot] is enabled but has no token: set 'bot.token_env' or a telegram sink's 'bot_token_env'"
        )


_HOST = re.compile(r"[A-Za-z0-9.:\-\[\]]+")


def _check_web(web: WebConfig, where: str) -> None:
    if not _HOST.fullmatch(web.host):
        raise ConfigError(
            f"{where}: 'web.host' must be an address or host name like 127.0.0.1, got {web.host!r}"
        )
    if web.base_url is not None:
        url = web.base_url
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", url):
            raise ConfigError(
                f"{where}: 'web.base_url' must be the desk's http(s) address like https://desk.example.org, "
                f"got {_describe(url)}"
            )


def _check_collection(tg: TelegramConfig, where: str) -> None:
    """Modes, accounts and channel entries: each mistake is one sentence before anything connects."""
    if tg.mode not in COLLECTION_MODES:
        raise ConfigError(f"{where}: 'telegram.mode' must be join or watch, got {tg.mode!r}")
    if tg.poll_max_seconds < tg.poll_min_seconds:
        raise ConfigError(
            f"{where}: 'telegram.poll_max_seconds' must not be below 'telegram.poll_min_seconds'"
        )
    names: set[str] = set()
    for i, account in enumerate(tg.account):
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", account.name):
            raise ConfigError(
                f"{where}: 'telegram.account[{i}].name' must be 1-32 letters, digits, '_' or '-', "
                f"got {account.name!r}"
            )
        if account.name in names:
            raise ConfigError(f"{where}: 'telegram.account[{i}].name' {account.name!r} is given twice")
        names.add(account.name)
    known = names or {"main"}
    seen: dict[str, str] = {}
    entries = [(f"telegram.channels[{i}]", ref, None) for i, ref in enumerate(tg.channels)]
    entries += [(f"telegram.channel[{i}].ref", e.ref, e.mode) for i, e in enumerate(tg.channel)]
    for key, ref, mode in entries:
        try:
            parsed = parse_ref(ref)
        except ChannelRefError as exc:
            raise ConfigError(f"{where}: '{key}': {exc}") from None
        if parsed.private and (mode or tg.mode) == "watch":
            raise ConfigError(
                f"{where}: '{key}' is a private invite link, which only join mode can collect: "
                'give it in a [[telegram.channel]] with mode = "join"'
            )
        if parsed.key in seen:
            raise ConfigError(f"{where}: '{key}' names the same channel as '{seen[parsed.key]}'")
        seen[parsed.key] = key
    for i, entry in enumerate(tg.channel):
        key = f"telegram.channel[{i}]"
        if entry.mode is not None and entry.mode not in COLLECTION_MODES:
            raise ConfigError(f"{where}: '{key}.mode' must be join or watch, got {entry.mode!r}")
        if entry.account is not None and entry.account not in known:
            raise ConfigError(
                f"{where}: '{key}.account' {entry.account!r} is not a [[telegram.account]] "
                f"(known: {', '.join(sorted(known))})"
            )
    active = [a for a in tg.account if not a.standby] if tg.account else [AccountConfig(name="main")]
    if not active:
        raise ConfigError(f"{where}: every [[telegram.account]] is a standby: at least one must collect")
    capacity = len(active) * tg.channels_per_account
    if len(entries) > capacity:
        raise ConfigError(
            f"{where}: {len(entries)} channels are more than the pool holds ({len(active)} account(s) "
            f"x {tg.channels_per_account} channels_per_account = {capacity}): add an account"
        )


def read_secret(env_name: str, *, required: bool = True) -> str | None:
    """Read a secret from ``$env_name`` or from the 0600 file named by ``$env_name_FILE``.

    The value is never logged. A file readable by group or others is refused. A "name" that
    is not one (a secret pasted where its variable's name belongs) is refused without echoing it.
    """
    if not _ENV_NAME.fullmatch(env_name):
        raise ConfigError("a secret's setting must name an environment variable, not hold the secret itself")
    value = os.environ.get(env_name)
    if value:
        return value.strip()
    file_name = os.environ.get(f"{env_name}_FILE")
    if file_name:
        path = Path(file_name).expanduser()
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise ConfigError(
                f"secret file {path} (from {env_name}_FILE) cannot be read: {exc.strerror}"
            ) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"secret file {path} must not be readable by others: run chmod 600 {path}")
        try:
            return path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:  # the message names the file, never its bytes
            raise ConfigError(
                f"secret file {path} (from {env_name}_FILE) cannot be read: {type(exc).__name__}"
            ) from None
    if required:
        raise ConfigError(
            f"the secret {env_name} is not set: export {env_name}=... or {env_name}_FILE=/path/to/0600-file"
        )
    return None
