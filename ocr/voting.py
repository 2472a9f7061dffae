"""From the many readings of one poster to its text: merge, order by agreement, vote the countdown.

* Merge (:func:`merge_lines`): lines are compared after ``monitor.core.text.normalize``; a line
  already contained in a kept line is dropped, a line that contains a kept one replaces it.
* Order (:func:`by_agreement`): the junk the passes make of flames is mostly read by one plane
  only, while a line of the poster is read by several planes alike, so the lines most planes
  agree on come first. Nothing is dropped: the detector and search see every line.
* The countdown vote (:func:`_agreed_countdown`): every reader gives its own number (nine planes
  may read ``٥٩`` as ``09`` alike); the countdown most readings agree on goes first, and
  ``alerts.countdown`` reads poster text line by line, so it is the one the detector takes.
  The numbers the glyph reader (``ocr.digits``) reads off the clean line crops and the rows of
  the plane passes are ballots too.

:func:`finish` does all of it for one image, wherever its passes ran (in this process or on the
pool's workers). Measurements: ``bench/README.md`` (OCR).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping

import numpy as np
from PIL import Image

from monitor.core.text import normalize
from monitor.core.text import words as word_list
from ocr.digits import (
    EASTERN_DIGIT,
    EASTERN_ONLY,
    EASTERN_ONLY_SHAPE,
    countdown_from_ink,
    countdown_like,
    countdown_lines,
    countdown_value,
    countdown_written_out,
    no_other_number,
)
from ocr.dots import redotted
from ocr.evidence import (
    SURE_CONFIDENCE,
    countdown_copies,
    countdown_rows,
    foreign_words,
    judge_lines,
    positions_of,
    respelled,
    support_of,
    unowned_words,
    whole_words,
    word_key,
)
from ocr.lexicon import lexicon_for, spellings_for
from ocr.pass_plan import DIGITS_PASS, ROWS_PASS
from ocr.planes import INK_PLANE, LINES_PREFIX, at_own_size, image_planes, layout_of
from ocr.readings import Line, PassResult, ReadResult, keep_words, same_row
from ocr.settings import OcrSettings

__all__ = ["by_agreement", "finish", "merge_lines", "merge_passes"]


Box = tuple[int, int, int, int]

_GLYPH_LINE_PLANES = ("grey", "red", "green", "blue", "white", "black")


def finish(
    results: list[PassResult],
    first_planes: Mapping[str, Image.Image],
    settings: OcrSettings,
    second: list[PassResult] | None = None,
) -> ReadResult:
    """Merge the passes of one image: plane passes, second passes (``read_second``) and the
    Eastern digits read from the glyphs of countdown lines (``ocr.digits``).

    The passes may have run anywhere (in this process, or spread over the pool's workers):
    ``first_planes`` only has to give the plane images of the first frame.
    """
    second = second or []
    results = [at_own_size(r) for r in results]  # the doubled planes' words put back on the image
    if settings.evidence:  # 1S -> IS where the dictionary says so, before the passes are compared
        lexicon = lexicon_for(settings.languages)
        results = [respelled(r, lexicon) for r in results]
        second = [respelled(r, lexicon) for r in second]
    rows = [r for r in second if r.plane == ROWS_PASS]
    digit_lines = [" ".join(w.text for w in ws) for r in second if r.plane == DIGITS_PASS for ws in r.lines]
    lines = merge_passes([*results, *rows], settings)
    glyph_lines: list[tuple[str, Box | None]] = []
    if settings.glyph_digits and first_planes:
        glyph_lines = _crop_countdowns(results, first_planes)
        # Where to look: the lines of the colour planes and the plain masks. A re-read row's box
        # is the whole pooled row, and the filled masks merge letters into blobs: both made the
        # regions too coarse (seed 0: 79 on a fire poster lost when they were included).
        located = [r for r in results if r.plane in _GLYPH_LINE_PLANES] or results
        planes = image_planes(first_planes)
        glyph_lines += countdown_lines(_all_lines(located), planes)
    read_lines = [  # every pass's lines, the words the confidence filter keeps
        (r.plane, kept)
        for r in [*results, *rows]
        for found in r.lines
        if (kept := keep_words(found, settings.min_confidence))
    ]
    read_at = [(plane, " ".join(w.text for w in kept), Line(kept, plane).box) for plane, kept in read_lines]
    read_by = [(plane, text) for plane, text, _ in read_at]
    ordered = by_agreement(lines, read_by)
    if settings.evidence:
        # what a crop's other model read is no evidence where its own model read it surely
        foreign = foreign_words(results)
        no_evidence = {key for key, owner in foreign.items() if owner >= SURE_CONFIDENCE}
        read_words = [
            (plane, w.text, w.conf)
            for plane, kept in read_lines
            for w in kept
            if word_key(plane, w) not in no_evidence
        ]
        support = support_of([*read_words, *((DIGITS_PASS, text) for text in digit_lines)])
        # a word only a crop's other model read leaves its line, whoever owns the crop (stop 30)
        unowned = unowned_words(results, support, foreign)
        words_at = [
            (plane, w.text, (w.left, w.top, w.left + w.width, w.top + w.height))
            for plane, kept in read_lines
            for w in kept
        ]
        positions = positions_of(words_at)
        # the rows of the countdown lines the glyph readers built: the passes' readings of such a
        # row that only garble it (``logs 09 باقي`` beside ``باقي ٥٩ يوما``) fold into it
        built = [(box, set(word_list(normalize(text)))) for text, box in glyph_lines if box is not None]
        whole = whole_words(w.text for _, kept in read_lines for w in kept)
        judged = judge_lines(
            ordered, support, lexicon_for(settings.languages), unowned, positions, built, whole
        )
        # Glyph lines carry their own line: a crop whose reading, or a row with one reading, that
        # reads like a countdown on its own (``ocr.digits``). The script-model re-reads need one.
        cd_rows = countdown_rows(read_at) + [box for box, _ in built]
        doubtful = []
        if not cd_rows:
            doubtful += digit_lines
            digit_lines = []
        # dots the planes lost, told by the spelling a pass at the same place read, or by the one
        # word of these channels with those letter shapes (``ocr.dots``)
        kept = redotted(judged.kept, words_at, spellings_for(settings.languages), settings.known_words)
        doubtful = [*doubtful, *judged.doubtful]
    else:
        kept, doubtful, cd_rows = ordered, [], []
    glyph_texts = [text for text, _ in glyph_lines]
    voted = _countdown_vote(glyph_texts, digit_lines, [text for _, text in read_by])
    agreed = _written(voted)
    if settings.evidence and not cd_rows:  # no line of the image reads like a countdown
        doubtful, agreed = [*agreed, *doubtful], []
    if settings.evidence and agreed and voted is not None:
        # the passes' garbled copies of the countdown going first, where it was read or built
        places = [box for _, text, box in read_at if text == voted[0]]
        places += [box for text, box in glyph_lines if text == voted[0] and box is not None]
        read_as = voted[0] if voted[0] != agreed[0] else None  # the winner as read, written out first
        kept, copies = countdown_copies(kept, agreed[0], places, support, read_as)
        doubtful = [*doubtful, *copies]
    # The agreed countdown first (the detector takes the first), then what the digit readers made
    # of countdown-like lines, then the poster's lines, the most agreed first. A re-read by the
    # script model is there for its number: one that reads like no countdown (the slogan of a
    # row it was given, ``WHAT IS CAM 0``), or holds no number but the countdown written first's
    # (``41 davs left`` under ``Only 41 days left``), is kept apart (bench/README.md, stops 56, 57).
    told = digit_lines
    if settings.evidence:
        first = countdown_value(agreed[0]) if agreed else None
        told = [
            line
            for line in digit_lines
            if countdown_like(line) and (first is None or not no_other_number(line, first[0]))
        ]
        doubtful = [*doubtful, *(line for line in digit_lines if line not in told)]
    texts = [*agreed, *glyph_texts, *told, *(ln.text for ln in kept)]
    return ReadResult(
        "\n".join(_distinct(texts)),
        lines,
        len(results) + len(second),
        "\n".join(_distinct(doubtful)),
    )


def _distinct(texts: list[str]) -> list[str]:
    """``texts`` without repeats (compared folded) and empty lines, in order."""
    seen: set[str] = set()
    out = []
    for text in texts:
        key = normalize(text)
        if key and key not in seen:
            seen.add(key)
            out.append(text)
    return out


def merge_lines(candidates: list[Line]) -> list[Line]:
    """Distinct lines in reading order: a line contained in a kept one is dropped."""
    kept: list[Line] = []
    for line in candidates:
        line.norm = normalize(line.text)
        if not line.norm:
            continue
        padded = f" {line.norm} "
        if any(padded in f" {k.norm} " for k in kept):
            continue
        kept = [k for k in kept if f" {k.norm} " not in padded]
        kept.append(line)
    kept.sort(key=lambda ln: (ln.box[1] // 8, ln.box[0]))
    return kept


def merge_passes(results: list[PassResult], settings: OcrSettings) -> list[Line]:
    candidates: list[Line] = []
    for result in sorted(results, key=lambda r: (r.frame, _plane_rank(r.plane, settings))):
        for words in result.lines:
            kept = keep_words(words, settings.min_confidence)
            if kept:
                candidates.append(Line(kept, result.plane))
    return merge_lines(candidates)


def _plane_rank(plane: str, settings: OcrSettings) -> int:
    return settings.passes.index(plane) if plane in settings.passes else len(settings.passes)


def by_agreement(lines: list[Line], read_by: list[tuple[str, str]]) -> list[Line]:
    """The merged lines, those most planes agree on first (ties: the longer, then reading order).

    Every plane reads the flames too, and the junk it makes of them is mostly read by one pass
    only, while a line of the poster is read by several planes alike. Each plane with a reading
    that shares at least half of the line's letters (or of the reading's: a pass that read half
    the slogan agrees with the whole) adds the share of the line it read, and the sum is
    weighed by the line's letters (up to 10: a two-letter scrap read twice is not a slogan).
    So of ``الانتقام قادم`` and the misreading ``الانتقام قادح`` the one more planes read whole
    comes first; among equals the longer line first (the slogan before its pieces). Nothing is
    dropped (the detector and search see every line); the order is for the people who read it.
    """
    plane_words = []
    having: dict[str, list[int]] = {}  # word -> the readings (in order) that have it
    for index, (plane, text) in enumerate(read_by):
        seen = set(word_list(normalize(text)))
        plane_words.append((plane, sum(len(w) for w in seen)))
        for word in seen:
            having.setdefault(word, []).append(index)

    def score(line: Line) -> tuple[float, int]:
        own = set(word_list(line.norm or normalize(line.text)))
        letters = sum(len(w) for w in own)
        if not letters:
            return 0.0, 0
        # Only the readings that share a word with the line can agree with it (a reading with
        # none shares no letter): found through ``having``, not by a walk of all of them (the
        # pass took 40 % of finishing a poster). Taken in their order, so the sum is the same.
        shared: dict[int, int] = {}
        for word in own:
            for index in having.get(word, ()):
                shared[index] = shared.get(index, 0) + len(word)
        best: dict[str, float] = {}  # plane -> the largest share of the line one of its readings has
        for index in sorted(shared):
            plane, size = plane_words[index]
            if size and 2 * shared[index] >= min(letters, size):
                best[plane] = max(best.get(plane, 0.0), shared[index] / letters)
        return sum(best.values()) * min(letters, 10), letters

    scores = [score(line) for line in lines]
    order = sorted(range(len(lines)), key=lambda i: (-scores[i][0], -scores[i][1]))
    return [lines[i] for i in order]


def _agreed_countdown(glyph_lines: list[str], digit_lines: list[str], readings: list[str]) -> list[str]:
    """The countdown line most readings of the poster agree on, to go first (or nothing).

    Every pass reads the countdown its own way, and a misread number (``1 days left`` for ``41``,
    a flame taken for a digit) must not win by coming first. Each reading with countdown words
    around one clean number is a vote for its value; a line whose number was read from the
    glyphs (``ocr.digits``) as an Eastern number with a shape only Eastern digits have (٢-٨)
    counts twice, since Tesseract's ``ara`` model cannot emit those at all. The script-model
    pass re-reads one line from several planes: the same reading of it counts once.
    (Measured and dropped: one vote per reader shared among its readings, and ignoring every
    ``ara`` reading when the glyphs show an Eastern number: a wrong glyph reading then won.)

    Beside a trusted glyph line of such shapes, a reading that is what Tesseract writes for it
    (``١٠`` for ``٦٠``: ``ara`` has no letter for ٢-٨, :func:`_unwritten`) is no vote against it;
    where the script model read the line in Eastern digits too, so are the guesses Tesseract's
    models make at those shapes (``89`` for ``٣٩``, ``96`` for ``٩٤``).
    A glyph line of one digit where Tesseract's readings agree on a number of two is not trusted:
    the glyph reader's regional path takes two Western digits for one Eastern shape (``94`` as
    ``٨``, ``51`` as ``٤``), so it counts once and is passed over below. Ties go to a number of
    two digits, a countdown's usual length: a dropped digit (``8`` for ``48``) and a junk one
    (``171`` for ``71``) are the commoner misreadings.

    The vote understands readings ``alerts.countdown`` does not (``#بافي_25__يوما``, ``ley`` for
    يوما), and the detector takes the first line it reads. So with no trusted glyph line, the
    winner goes first written out whole (``#باقي_25_يوما``, :func:`countdown_written_out`): left
    as read, the poster often had no countdown at all (seeds 5-14: nine more countdowns read,
    none lost, no false one). With one (always written out whole, and after the winner in the
    text), the winner goes first as read: on three grain posters of seeds 1, 2 and 4 the winner
    is wrong and garbled, and the detector passes it for the right glyph line (written out, they
    were lost; ``bench/README.md``, stops 47 and 48).
    """
    return _written(_countdown_vote(glyph_lines, digit_lines, readings))


def _written(voted: tuple[str, bool] | None) -> list[str]:
    """The winner of :func:`_countdown_vote` as it goes first: as read beside a trusted glyph line,
    else written out whole (:func:`_agreed_countdown` says why)."""
    if voted is None:
        return []
    first, trusted = voted
    return [first] if trusted else [countdown_written_out(first) or first]


def _countdown_vote(
    glyph_lines: list[str], digit_lines: list[str], readings: list[str]
) -> tuple[str, bool] | None:
    """The vote of :func:`_agreed_countdown`: the winner's line as read, and whether a trusted glyph
    line was among the ballots (None: no countdown)."""
    # each line parsed once: the vote runs on every reading of every poster
    glyphs = [(line, countdown_value(line)) for line in glyph_lines]
    read = [(line, countdown_value(line)) for line in [*dict.fromkeys(digit_lines), *readings]]
    read_winner = _most_votes(Counter(value for _, value in read if value))
    two_read = read_winner is not None and _digits(read_winner) == 2
    trusted = [(line, value) for line, value in glyphs if not (two_read and value and _digits(value) == 1)]
    shaped = [value for line, value in trusted if value and EASTERN_ONLY_SHAPE.search(line)]
    ballots = [
        (2 if (line, value) in trusted and EASTERN_ONLY_SHAPE.search(line) else 1, line, value)
        for line, value in glyphs
    ]
    eastern = any(EASTERN_DIGIT.search(line) for line in digit_lines)
    ballots += [(1, line, value) for line, value in read if not _unwritten(value, shaped, eastern)]
    votes: Counter[tuple[int, str]] = Counter()
    texts: dict[tuple[int, str], Counter[str]] = {}
    for weight, line, value in ballots:
        if value is not None:
            votes[value] += weight
            texts.setdefault(value, Counter())[line] += weight
    winner = _most_votes(votes)
    if winner is None:
        return None
    return texts[winner].most_common(1)[0][0], bool(trusted)


def _most_votes(votes: Counter[tuple[int, str]]) -> tuple[int, str] | None:
    """The value with the most votes; a tie goes to one of two digits, then to the first counted
    (glyph lines are counted first)."""
    if not votes:
        return None
    return max(votes, key=lambda value: (votes[value], _digits(value) == 2))


def _unwritten(value: tuple[int, str] | None, shaped: list[tuple[int, str]], eastern: bool) -> bool:
    """Whether a reading's ``value`` is what Tesseract writes for one of the ``shaped`` glyph
    numbers (Eastern, with a shape only Eastern digits have): ``ara`` writes no Eastern digit but
    ١ and ٠, so each of ٢-٨ comes out as 1, 0, its Western twin or nothing, and the others as
    themselves (``لم يتبق سوى ١٠ يوما`` and ``10 Logs`` for ``٦٠``, ``1 logs`` for ``٦``, ``8``
    for ``٢٨``, ``١١`` for ``١٢``). Such a reading is no vote against the glyphs.

    With ``eastern`` (the script model, which writes Eastern digits, read the line in them), any
    digit or none at those places is such a reading: Tesseract's models guess at shapes they
    have no letter for (``89`` for ``٣٩``, ``96`` for ``٩٤``, each read alike by every plane).
    Without it the glyph reader may have taken Western digits for Eastern shapes (``90`` read as
    ``٤٥`` on a small poster, read as ``90`` by eleven planes): those readings count."""
    if value is None:
        return False
    for number, unit in shaped:
        if unit == value[1] and number != value[0]:
            pattern = "".join(
                ("[0-9]?" if eastern else f"[01{d}]?") if d in EASTERN_ONLY else d for d in str(number)
            )
            if re.fullmatch(pattern, str(value[0])):
                return True
    return False


def _digits(value: tuple[int, str]) -> int:
    """How many digits a countdown's number has, as the vote compares them."""
    return len(str(value[0]))


def _crop_countdowns(
    results: list[PassResult], first_planes: Mapping[str, Image.Image]
) -> list[tuple[str, Box | None]]:
    """Countdown lines whose number is read from the glyphs of a clean line crop.

    One line of the poster is usually cut out of several masks, and their readings of the number
    can differ: a mask that lost a stroke, or one whose flame or stripe touched a digit (``٣٢``
    read as ``٣٢١`` by one mask of four). So the crops of one line vote, as the masks of a row do
    (``ocr.digits.read_number``): the line most of them read wins, and among lines read equally
    often, the one whose digits are nearest their examples.
    """
    readings: dict[int, list[str]] = {}
    for result in results:
        if result.frame == 0 and result.plane.startswith(LINES_PREFIX):
            for words in result.lines:
                crop = words[0].crop
                if crop >= 0:
                    readings.setdefault(crop, []).append(" ".join(w.text for w in words))
    if not readings or INK_PLANE not in first_planes:
        return []
    stack = first_planes[INK_PLANE]
    placements = layout_of(stack)
    rows: list[tuple[Box, dict[str, list[float]]]] = []  # a line's box, and each reading's distances
    for crop, texts in sorted(readings.items()):
        if crop >= len(placements):
            continue
        spot = placements[crop]
        ink = (
            np.asarray(stack.crop((spot.left, spot.top, spot.left + spot.width, spot.top + spot.height)))
            < 128
        )
        found = countdown_from_ink(texts, ink)
        if found is None:
            continue
        box = spot.image_box
        line, distance = found
        for other, readings_of_row in rows:
            if same_row(box, other):
                readings_of_row.setdefault(line, []).append(distance)
                break
        else:
            rows.append((box, {line: [distance]}))
    return [(min(read, key=lambda text: (-len(read[text]), min(read[text]))), box) for box, read in rows]


def _all_lines(results: list[PassResult]) -> list[tuple[str, tuple[int, int, int, int], int]]:
    """Every line of the first frame's passes, whatever its confidence: (text, box, word height)."""
    out = []
    for result in results:
        if result.frame != 0:
            continue
        for words in result.lines:
            if words:
                heights = sorted(w.height for w in words)
                out.append(
                    (
                        " ".join(w.text for w in words),
                        Line(words, result.plane).box,
                        heights[len(heights) // 2],
                    )
                )
    return out
