"""The ``check`` command: what the detector says about a text or a poster, and why.

A thin layer over :class:`alerts.detect.Detector`: analysts use it to test their rules, so the
readable output shows each match in its context, the countdown with its deadline, and the reason
the post alerts or does not. ``--json`` prints the contract shape of ``shared/DESIGN.md``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitor.cli_context import AppContext, end_without_teardown, parse_when, pass_app, run_async
from monitor.core.errors import ArchiveError, ImageError, OcrError
from monitor.core.escape import dumps_json, for_terminal, terminal_spans
from monitor.core.models import OcrOutcome
from monitor.core.times import iso
from monitor.ocr_settings import ocr_settings

if TYPE_CHECKING:
    from rich.text import Text

_SEVERITY_STYLE = {"high": "bold white on red", "medium": "black on yellow", "low": "black on cyan"}
_CONTEXT = 60  # characters of context shown around a match


@click.command("check")
@click.argument("text", required=False)
@click.option(
    "--image",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also read this poster or video clip (OCR; a clip at its key frames) and check its text.",
)
@click.option("--date", "date_text", help="Post date for the countdown deadline (default: now, UTC).")
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(path_type=Path),
    help="Rules file (replaces the configured/default rules).",
)
@click.option(
    "--min-severity",
    type=click.Choice(["low", "medium", "high"]),
    help="Lowest match severity that raises an alert (default: the config's, else medium).",
)
@click.option(
    "--channel",
    "channel_ref",
    help="Check as a post of this archived channel: its signature (own name, recurring lines) does not alert.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the detection as JSON (the contract shape).")
@click.option("--exit-code", is_flag=True, help="Exit with status 1 when an alert is raised (for scripts).")
@pass_app
def check_command(
    app: AppContext,
    text: str | None,
    image: Path | None,
    date_text: str | None,
    rules_path: Path | None,
    min_severity: str | None,
    channel_ref: str | None,
    as_json: bool,
    exit_code: bool,
) -> None:
    """Show what the detector says about TEXT (use - to read it from stdin) and/or a poster.

    Lists each rule match highlighted in its context, the countdown and its deadline, and why the
    post alerts or not. An alert is raised for a match at or above the minimum severity or for a
    countdown that is not a benign look-alike (Ramadan, exams, New Year...). Exit status is 0
    whatever the verdict, or 1 on an alert with --exit-code; 2 on an error.

    With --channel, the text is checked as that channel's post: the words of its identity (its
    title, username, recurring signature lines and hashtags) do not alert, and its signature is shown.

    Example: tgmonitor check "#باقي_٥٩_يوما #الانتقام_قادم" --date 2021-11-02
    """
    config = app.config()
    if text == "-":
        text = sys.stdin.read()
    if not text and image is None:
        raise click.UsageError("give a TEXT to check, - to read it from stdin, or --image FILE")
    date = parse_when(date_text) if date_text else datetime.now(UTC).replace(microsecond=0)
    first = _start_reading(config, image) if image is not None else None
    rules_file = rules_path if rules_path is not None else config.alerts.rules
    severity = min_severity or config.alerts.min_severity
    ocr_text = doubtful = None
    built: list[Any] = []
    # The rules (0.03 s to import and parse) are read once Tesseract has begun, not before the
    # image is even opened: their words are known spellings to the OCR's finish (``ocr.dots``).
    rules = _rules(rules_file)
    if image is not None:
        ocr_text, doubtful = _read_poster(
            image,
            ocr_settings(config, rules),  # the early read's, with the rules' words for its finish
            first,
            config,
            have_text=bool(text),
            meanwhile=lambda: built.append(_detector(rules, severity)),  # made while Tesseract reads
        )
    detector = built[0] if built else _detector(rules, severity)  # nothing read
    signature, label = _signature(app, channel_ref, rules) if channel_ref else (None, "")
    detection = detector.detect(text or "", ocr_text=ocr_text, date=date, signature=signature)

    if as_json:
        data = detection.to_json()
        if signature is not None:
            data["signature"] = {**signature.to_json(), "channel": label}
        if doubtful is not None:
            data["ocr_doubtful"] = doubtful  # read without evidence: not matched, for debugging
        click.echo(dumps_json(data, indent=2))
    else:
        _explain(detection, text or "", date, rules.source, bool(date_text))
        if signature is not None:
            _show_signature(detector, detection, text or "", ocr_text, date, signature, label)
    if exit_code and detection.alert:
        sys.exit(1)


def _signature(app: AppContext, ref: str, rules: Any) -> tuple[Any, str]:
    """The signature of the archived channel ``ref`` (learned from its latest posts) and its label."""
    from alerts.signatures import learn_book  # why: only --channel reads the archive
    from monitor.core.store import Archive

    async def go() -> tuple[Any, str]:
        async with await Archive.open(app.existing_db(), app.media_dir(), readonly=True) as archive:
            row = await archive.find_channel(ref)
            if row is None:
                raise ArchiveError(f"no channel {ref!r} in the archive (give its @username, id or t.me link)")
            book = await learn_book(archive, rules.signatures, channel_id=int(row["id"]))
            label = f"@{row['username']}" if row["username"] else str(row["title"] or row["id"])
            return book.get(int(row["id"])), label

    return run_async(go())


def _show_signature(
    detector: Any, detection: Any, text: str, ocr_text: str | None, date: datetime, signature: Any, label: str
) -> None:
    """The channel's signature, and the matches it kept quiet in this text."""
    from rich.console import Console  # why: --json prints without rich (0.015 s of imports)
    from rich.text import Text

    from monitor.cmd_rules import signature_lines  # why: the one way a signature is shown

    out = Console(highlight=False, soft_wrap=True)
    out.print()
    out.print(Text(for_terminal(f"signature of {label} (does not alert for this channel):"), style="bold"))
    for line in signature_lines(signature):
        out.print(Text("  " + line))
    plain = detector.detect(text, ocr_text=ocr_text, date=date)
    kept = {(m.rule, m.source, m.start, m.end) for m in detection.matches}
    quiet = [m for m in plain.matches if (m.rule, m.source, m.start, m.end) not in kept]
    for m in quiet:
        out.print(
            Text(
                for_terminal(f"  kept quiet: {m.severity} rule '{m.rule}' matched {m.snippet!r}"), style="dim"
            )
        )
    if plain.alert and not detection.alert:
        out.print(Text("  without the signature this text would alert", style="italic"))


def _rules(rules_file: Path | None) -> Any:
    """The rules of ``rules_file`` (None: the shipped ones)."""
    from alerts.rules import load_rules  # why: the rules load only in the commands that detect

    return load_rules(rules_file)


def _detector(rules: Any, severity: str) -> Any:
    """A detector of ``rules`` that alerts from ``severity`` up."""
    from alerts.detect import Detector  # why: the detector (~0.1 s) loads only in the commands that detect

    return Detector(rules, min_severity=severity)


def _start_reading(config: Any, image: Path) -> Any:
    """The read of ``image`` begun (``ocr.first_passes``): Tesseract's models loading on the
    second core, the image loaded, and its first plane passes started before the rest of the OCR
    engine (numpy, 0.06-0.09 s) is imported; an image with no text then leaves the models
    unused, at no cost to its own time. The rules' words are not known yet: they change no pass,
    only the finish, which gets them (``ocr.first_passes.FirstPasses.take_over``)."""
    from ocr.first_passes import FirstPasses  # why: the OCR engine loads only for --image
    from ocr.settings import OcrSettings

    end_without_teardown()  # the models and dictionaries the OCR loads take 0.2 s to free
    # Tesseract's threads come back to Python only for a moment (to start the next pass, to
    # parse a reading) while this thread cuts planes in Python: with the default 5 ms turns of
    # Python's lock they waited for it (a model load started 50 ms late).
    sys.setswitchinterval(0.0005)
    return FirstPasses(image, OcrSettings.from_config(config.ocr))


def _read_poster(
    image: Path, settings: Any, first: Any, config: Any, *, have_text: bool, meanwhile: Callable[[], object]
) -> tuple[str | None, str | None]:
    """OCR text of ``image`` and its doubtful lines (read without the evidence to be matched);
    a failure is one sentence (fatal only when there is no TEXT). ``first``: its read begun
    (``_start_reading``). ``meanwhile`` runs while Tesseract reads, when it does
    (``ocr.clips.read_media_file``)."""
    if first.no_text:  # a picture without text: nothing to read, no engine to import for it
        return "", ""
    from ocr.clips import read_media_file  # why: the OCR engine loads only for --image
    from ocr.video import VideoSettings

    outcome: OcrOutcome | None
    try:
        outcome = read_media_file(image, settings, VideoSettings.from_config(config.ocr), meanwhile, first)
    except (ImageError, OcrError) as exc:
        problem, outcome = str(exc), None
    else:
        problem = "" if outcome.status == "done" else f"could not read {image}: {outcome.reason}"
    if outcome is not None and not problem:
        return outcome.text or "", outcome.doubtful or ""
    if not have_text:
        raise OcrError(problem)
    click.echo(for_terminal(f"warning: {problem}; checking the text only"), err=True)
    return None, None


def _explain(detection: Any, text: str, date: datetime, rules_source: str, dated: bool) -> None:
    """The readable verdict: matches in context, countdown, and why it alerts or not.

    What the analyst checks is channel text: it reaches rich only as Text (never markup) and
    through :func:`for_terminal` (controls and bidi overrides shown, not obeyed).
    """
    from rich.console import Console  # why: --json prints without rich (0.015 s of imports)
    from rich.text import Text

    t = for_terminal
    out = Console(highlight=False, soft_wrap=True)
    if detection.alert:
        out.print(
            Text(f" ALERT  {detection.severity} ", style=_SEVERITY_STYLE.get(detection.severity, "bold"))
        )
    else:
        out.print(Text(" no alert ", style="bold green"))
    out.print(Text(t(f"rules: {rules_source}; minimum severity: {detection.min_severity}"), style="dim"))

    for source, body in (("text", text), ("ocr", detection.ocr_text)):
        if body is None or (source == "text" and not body):
            continue
        found = [m for m in detection.matches if m.source == source]
        out.print()
        out.print(Text("poster text (OCR):" if source == "ocr" else "text:", style="bold"))
        out.print(
            _highlighted(body, found, detection.countdown if _on(detection.countdown, source) else None)
        )

    out.print()
    if detection.matches:
        out.print(Text("matches:", style="bold"))
        floor = _rank(detection.min_severity)
        for m in detection.matches:
            alerting = _rank(m.severity) >= floor
            line = Text("  ")
            line.append(f" {m.severity} ", style=_SEVERITY_STYLE.get(m.severity, ""))
            line.append(t(f" {m.rule}"), style="bold")
            line.append(t(f" [{m.category}]  "), style="dim")
            line.append(t(f"{m.snippet!r}"))
            line.append(t(f"  term {m.term!r}"), style="dim")
            if m.with_term:
                line.append(t(f" with {m.with_term!r}"), style="dim")
            line.append(f"  ({m.source} {m.start}-{m.end})", style="dim")
            if not alerting:
                line.append("  below the minimum: no alert on its own", style="italic dim")
            out.print(line)
            out.print(
                Text("      " + t(_context(_body(detection, text, m.source), m.start, m.end)), style="dim")
            )
    else:
        out.print(Text("no rule matches", style="dim"))

    c = detection.countdown
    out.print()
    if c is None:
        out.print(Text("no countdown", style="dim"))
    else:
        unit = c.unit + ("s" if c.value != 1 else "")
        line = Text("countdown: ", style="bold")
        line.append(f"{c.value} {unit} left", style="bold magenta")
        line.append(t(f"  ({c.source}: {c.snippet!r})"), style="dim")
        out.print(line)
        if c.deadline is not None:
            how = (
                "the date the post names"
                if c.explicit_date
                else (
                    f"post date {iso(date)} + {c.value} {unit}"
                    if dated
                    else f"now + {c.value} {unit}; give --date for a post's deadline"
                )
            )
            out.print(Text(f"  deadline: {iso(c.deadline)}  ({how})"))
        verdict = "alertable" if c.alertable else "not alertable"
        out.print(Text(t(f"  {verdict}: {c.reason}"), style="green" if not c.alertable else "magenta"))

    out.print()
    reasons = detection.reasons()
    if reasons:
        out.print(Text("why it alerts:", style="bold"))
        for reason in reasons:
            out.print(Text(t(f"  - {reason}")))
    else:
        low = detection.matches
        why = "nothing at or above the minimum severity"
        if low:
            why += f" ({len(low)} lower match{'es' if len(low) != 1 else ''})"
        if c is not None and not c.alertable:
            why += "; the countdown is not alertable"
        out.print(Text(f"why no alert: {why}", style="bold"))


def _rank(severity: str | None) -> int:
    return {"low": 0, "medium": 1, "high": 2}.get(severity or "", -1)


def _on(countdown: Any, source: str) -> bool:
    return countdown is not None and countdown.source == source


def _body(detection: Any, text: str, source: str) -> str:
    return text if source == "text" else detection.ocr_text or ""


def _context(body: str, start: int, end: int) -> str:
    left = max(0, start - _CONTEXT)
    right = min(len(body), end + _CONTEXT)
    snippet = body[left:start] + "«" + body[start:end] + "»" + body[end:right]
    snippet = " ".join(snippet.split())
    return ("…" if left else "") + snippet + ("…" if right < len(body) else "")


def _highlighted(body: str, matches: list[Any], countdown: Any) -> Text:
    """``body`` with each match in its severity colour and the countdown underlined.

    The spans move with the escaping (:func:`terminal_spans`), so the right letters light up.
    """
    from rich.text import Text  # why: --json prints without rich (0.015 s of imports)

    ordered = sorted(matches, key=lambda m: _rank(m.severity))
    styles = [_SEVERITY_STYLE.get(m.severity, "bold") for m in ordered]
    spans = [(m.start, m.end) for m in ordered]
    if countdown is not None:
        styles.append("underline bold magenta")
        spans.append((countdown.start, countdown.end))
    escaped, moved = terminal_spans(body, spans)
    shown = Text(escaped)
    for style, (start, end) in zip(styles, moved, strict=True):
        shown.stylize(style, start, end)
    return shown


commands: list[click.Command] = [check_command]

__all__ = ["check_command", "commands"]
