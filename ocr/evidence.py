"""Which of the lines the passes read are really on the image: agreement between passes and a
dictionary of the language.

Every pass reads the poster's text, and every pass also reads the flames, flags and grain
around it as letters. What tells the two apart:

* **Agreement.** A word of the poster is read alike by several passes (planes, masks, the clean
  line crops, the row re-read), where it is; the junk a pass makes of a background is mostly
  its own. Each folded word counts the passes that read it (:func:`support_of`): a dictionary
  word only those that read it at the place its line has it (a texture makes the same short
  words all over, :func:`_read_here`), a name or a number those that read it anywhere; a filled
  mask that read it just as its mask did read the same pixels, and is not counted again
  (:func:`_readings`).
* **A language model.** Tesseract's own dictionaries (``ocr.lexicon``) hold the word forms of
  Arabic and English; a string of letters none of them holds needs more agreement to count.

Words are judged, not lines: a line keeps the words that have evidence and drops the rest. A word
has evidence when two passes read it there and the dictionary knows it; when one pass read a
dictionary word of four letters or more surely (Tesseract's confidence: 80 on a plane, 60 on a
clean line crop, but 80 there too where the word is under 16 px tall on the image, below what the
plane passes take for letters: the stack enlarges it from specks; junk made of flames and grain is
read unsure); when three passes read it, or two surely, of two kinds (a name, a brand the
dictionary lacks: a plane and a line crop, say); when one reading holds it in a run of two or more
dictionary words of three letters, each read with confidence 50 or more, or 35 where each has four
letters or more (small scene text is often read by one pass only, and junk rarely spells two words
in a row; not with a crop's word under 16 px); or when it is a dictionary word read with
confidence 50 (or vocalised, at any confidence the reading kept: ``ocr.readings.vocalised``) inside
a reading whose letters mostly have evidence (the short ``is`` of ``CLOCK IS TICKING``, the
``رَحْبَتَ`` of a book line read at 10). A word of two letters needs a pass that read it surely,
whatever else speaks for it. A line is kept when what is left of it holds a known word of three
letters or more, a word many passes read surely, or a number two kinds of pass read (one digit
alone carries no line: it is what the passes make of a speck, :func:`_number_agreed`); lines on one
row that only repeat a kept line's words, pieces of them or misreadings of them (another pass's
reading of the same line; a dictionary word counts as a piece when no pass read it as a word of
its own, ``ming`` of ``C@MING``; a misreading is a letter or two off and no listed word,
``Attritien``) are folded into it, and so are the garbled copies of the countdown that goes
first, where that line lies (:func:`countdown_copies`). Everything else is *doubtful*: kept
apart for whoever debugs a reading, never searched or matched (:func:`judge_lines`). Why these
signals: measured on the stored passes of the real and synthetic images (``bench/README.md``,
OCR): per pass reading, runs of two or more dictionary words read at 50+ were real text 94-96 %
of the time, one word read at 30-50 rarely.

Each clean line crop is read by the model of each language, and the model that is not the
crop's script's makes words of its own out of the glyphs (``youl`` of an Arabic line): what the
less sure model of a crop read is no evidence where the other read the crop surely
(:func:`foreign_words`), and a word only it read leaves its line (:func:`unowned_words`).

Countdown lines written back by the digit readers (``ocr.digits``) are constructed, not read:
the glyph reader only reads the number of a line that reads like a countdown on its own (a
"remaining" word and a unit, two different words, in one reading of one line-shaped region),
and the script-model re-reads and the voted countdown are kept only when such a line exists
(:func:`countdown_rows`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace

from monitor.core.text import normalize, within_edits, words
from ocr.digits import countdown_template, countdown_value, no_other_number
from ocr.lexicon import Lexicon
from ocr.pass_plan import DIGITS_PASS, ROWS_PASS
from ocr.readings import Line, PassResult, Word, same_line, same_place, same_row, vocalised
from ocr.settings import FILLED_MASKS

__all__ = [
    "Judged",
    "countdown_copies",
    "countdown_rows",
    "foreign_words",
    "judge_lines",
    "positions_of",
    "respell",
    "respelled",
    "support_of",
    "unowned_words",
    "whole_words",
    "word_key",
]

Box = tuple[int, int, int, int]

KNOWN_SUPPORT = 2  # passes that must read a word the dictionary knows
UNKNOWN_SUPPORT = 3  # passes that must read a word it does not know (names, brands)
MIN_KNOWN = 3  # a kept line holds a known word at least this long
CLEAN_PREFIX = "lines:"  # the passes over clean line crops (``ocr.planes.LINES_PREFIX``)
CONTEXT_CONFIDENCE = 50.0  # a dictionary word read this sure in a line of words with evidence is kept
CONTEXT_LENGTH = 2
LINE_WORDS = 2  # a reading of this many dictionary words (3+ letters each) ...
LINE_CONFIDENCE = 50.0  # ... each read at least this sure is a line of the image, even one pass's
LONG_RUN_CONFIDENCE = 35.0  # ... or this sure, when each word has SURE_LENGTH letters or more
AGREED_SUPPORT = 3  # passes that must read a word no dictionary holds for it to carry a line alone
SURE_LENGTH = 4  # a known word this long read by one pass alone is kept when it was sure of it
SURE_CONFIDENCE = 80.0  # Tesseract's confidence (0-100) that counts as sure on a plane
CLEAN_CONFIDENCE = 60.0  # ... and on a clean line crop
SMALL_CROP_HEIGHT = 16  # ... of a word at least this tall on the image (px; :func:`_small_on_crop`)
_SUPPORT_CAP = 6  # beyond this many passes a word is not surer (the colour planes read alike)


Support = dict[str, dict[str, float]]
"""Folded word -> {pass: the best confidence Tesseract gave it in that pass}."""

WordKey = tuple[str, int, int, int, int]
"""One word of one pass's reading (:func:`word_key`)."""


_CAPITALS_WITH_DIGITS = re.compile(r"^(\W*)([A-Z01]*[A-Z][A-Z01]*)(\W*)$")
_LONE_DIGIT = re.compile(r"(?<![01])[01](?![01])")
_LOOKALIKES = str.maketrans("10", "IO")


def respell(text: str, lexicon: Lexicon) -> str:
    """One word as read, with a ``1`` or ``0`` among capitals read as the ``I`` or ``O`` it is,
    when that makes a word of the dictionary: on some planes psm 11 reads the ``IS`` of ``THE
    CLOCK IS TICKING`` as ``1S``, and the line then has no word ``is`` for search, rules or the
    agreement of the passes. Only lone digits touching capitals are looked at, and never in a
    hashtag: ``10``, ``#1HOURLEFT``, ``1HOUR`` (no such word) stay as read."""
    match = _CAPITALS_WITH_DIGITS.match(text)
    if match is None or "#" in match.group(1):
        return text
    word = match.group(2)
    if not _LONE_DIGIT.search(word) or len(_LONE_DIGIT.findall(word)) != sum(c in "01" for c in word):
        return text
    spelled = word.translate(_LOOKALIKES)
    return f"{match.group(1)}{spelled}{match.group(3)}" if lexicon.knows(normalize(spelled)) else text


def respelled(result: PassResult, lexicon: Lexicon) -> PassResult:
    """``result`` with each word :func:`respell`-ed (each word of a whole line that a second
    pass gives as one: the script-model re-read of a line with a ``1`` in it)."""

    def each(word: Word) -> Word:
        if "0" not in word.text and "1" not in word.text:  # nearly every word: nothing to look at
            return word
        return replace(word, text=" ".join(respell(token, lexicon) for token in word.text.split(" ")))

    return replace(result, lines=[[each(w) for w in words] for words in result.lines])


def support_of(readings: Iterable[tuple[str, str] | tuple[str, str, float]]) -> Support:
    """Folded word -> the passes that read it and how sure each was, from (pass, text[, conf])
    of every pass's words (words without the punctuation around them: ``تنتهي"`` is ``تنتهي``).
    A reading without a confidence counts as a sure one (the digit readers' constructed lines)."""
    support: Support = {}
    for reading in readings:
        reader, text = reading[0], reading[1]
        conf = float(reading[2]) if len(reading) > 2 else 100.0  # type: ignore[misc]
        for word in words(normalize(text)):
            seen = support.setdefault(word, {})
            seen[reader] = max(seen.get(reader, 0.0), conf)
    return support


@dataclass
class Judged:
    """The lines of one image split into the kept and the doubtful, in the order given."""

    kept: list[Line] = field(default_factory=list)
    doubtful: list[str] = field(default_factory=list)


def _readings(word: str, support: Support) -> dict[str, float]:
    """The passes that read ``word`` (``support``), a filled mask left out where its own mask
    read the word at the very same confidence. A filled mask is its mask but for the small holes
    it fills; where none is filled under a word, Tesseract reads the same pixels twice and gives
    the same reading, so the two are one reading, not two passes agreeing: ``بيد`` at 50.7 and
    ``oad`` at 53.5 off a plate of buns, by the black mask and its filled copy alike, were kept as
    two passes' words. Where holes were filled (outlined letters, what the filled masks are for)
    the pixels differ, and so does the confidence. Stored passes of the real images, real photos
    without text and seeds 0-39: the same words found and keywords and countdowns read, 4 junk
    words fewer on the real set, 2 on the photos, junk lines fewer on 97 posters of seeds 0-24
    (``bench/README.md``, OCR, stop 54)."""
    readers = support.get(word, {})
    return {
        reader: conf
        for reader, conf in readers.items()
        if reader not in FILLED_MASKS or readers.get(FILLED_MASKS[reader]) != conf
    }


def _word_kept(word: str, support: Support, lexicon: Lexicon, clean_counts: bool = True) -> bool:
    """Whether ``word`` has evidence of its own. ``clean_counts``: a clean line crop's or a row's
    lone reading may be less sure than a plane's (not of a word too small, :func:`_small_on_crop`)."""
    readers = _readings(word, support)
    seen = len(readers)
    if word.isdigit():
        return seen >= KNOWN_SUPPORT
    if len(word) < 2:
        return False
    if _short_and_unsure(word, support):
        return False
    sure = max(readers.values(), default=0.0)
    if not lexicon.knows(word):
        # a name or a brand: several passes, of two kinds at least (the colour planes and masks read
        # the same specks as the same junk alike; ``bench/README.md``, OCR)
        return len({family(r) for r in readers}) >= 2 and (
            seen >= UNKNOWN_SUPPORT
            or (seen >= KNOWN_SUPPORT and len(word) >= SURE_LENGTH and sure >= SURE_CONFIDENCE)
        )
    if seen >= KNOWN_SUPPORT and (len({family(r) for r in readers}) >= 2 or sure >= CONTEXT_CONFIDENCE):
        return True
    # One pass alone: a dictionary word it was sure of. Junk made of flames and grain is read
    # unsure (Tesseract's confidence stays low on it), and rarely spells a long word; a clean
    # line crop holds the line's own ink only, so there a less sure reading counts.
    if len(word) < SURE_LENGTH:
        return False
    clean = clean_counts and any(r.startswith(CLEAN_PREFIX) or r == ROWS_PASS for r in readers)
    return sure >= (CLEAN_CONFIDENCE if clean else SURE_CONFIDENCE)


def _small_on_crop(line: Line, word: Word) -> bool:
    """Whether ``word`` is a clean line crop's reading of a word under ``SMALL_CROP_HEIGHT`` px
    tall on the image (its box): letters about as tall as the 10 px under which the plane passes'
    page layout takes a blob for a speck (``OcrSettings.plane_noise_height``). The stack scales
    every crop to one height (``ocr.lines``), so such a word reaches Tesseract enlarged more than
    three times, past that filter: specks made big, of which it reads words at 50-80. Neither its
    lone reading at a crop's lower bar nor a run of dictionary words it is part of is evidence;
    it needs what a plane's reading needs. Stored passes of the real images, real photos without
    text and seeds 0-39: 73 junk lines fewer (``tate``, ``Pees``, ``في مسيرة`` of a Ramadan card;
    of three food photos, ``سلما``, ``تسرك`` and ``حسم الى``, whose ``الى`` is 7 px tall on a
    19 px line), the same recall on the real images, the same keywords and countdowns on every
    seed and no word of a poster's truth lost (``bench/README.md``, OCR, stop 55). A row's reading
    keeps the lower bar: Tesseract's word boxes there come out shorter than the letters (``قادم``
    of a 30 px hashtag, 13 px)."""
    return line.plane.startswith(CLEAN_PREFIX) and word.height < SMALL_CROP_HEIGHT


def _short_and_unsure(word: str, support: Support) -> bool:
    """A word of two letters that no pass read surely. The passes make two-letter words of
    the specks and strokes around the text alike (``ee``, ``ss``, ``al``), and Tesseract is
    unsure of them; the short words of real lines (``is``, ``of``, ``لم``, ``في``) are read
    surely by some pass. Measured on the words that reached the text from the stored passes:
    two-letter words no pass read at 80 or more were junk 38 times in 38 on the real images and
    171 times in 171 on synthetic seeds 0-4 (``bench/README.md``, OCR)."""
    return len(word) < MIN_KNOWN and max(support.get(word, {}).values(), default=0.0) < SURE_CONFIDENCE


def _new_word(word: str, support: Support, lexicon: Lexicon) -> bool:
    """A word of a row's other reading worth keeping that reading for: a word of some length the
    dictionary lists (:func:`_listed`: ``ceming`` of ``Vengeance is Ceming`` is only ``ce`` and
    ``ming`` run together) with evidence of its own, not a number or a fragment."""
    return (
        len(word) >= SURE_LENGTH
        and not word.isdigit()
        and _listed(word, lexicon)
        and _word_kept(word, support, lexicon)
    )


def _adds_little(fresh: set[str], letters: int, support: Support, lexicon: Lexicon) -> bool:
    """Whether a reading of ``letters`` letters adds nothing worth keeping to a kept reading of its
    row, ``fresh`` being its words that one lacks: they make under half its letters, and none is a
    word with evidence of its own (:func:`_new_word`)."""
    return 2 * sum(len(f) for f in fresh) < letters and not any(_new_word(f, support, lexicon) for f in fresh)


def _fresh(own: set[str], seen: set[str], lexicon: Lexicon, whole: Collection[str] | None = None) -> set[str]:
    """The words of ``own`` a kept reading of the row lacks, but for pieces of its words that are
    no word themselves (``vengea`` and ``engeance`` of ``vengeance``): a pass that caught part of
    a word read nothing the row does not have. A piece that is a word stays new (``عليكم`` of
    ``وعليكم`` may be the true reading, the ``و`` a speck) when a pass read it as a word (``whole``,
    :func:`whole_words`; None: every word was), not only as a piece of a garbled token: ``ming``
    of ``C@MING``, read where every other pass read ``COMING``, is a piece of ``coming``."""
    return {
        f
        for f in own - seen
        if f.isdigit()
        or (_listed(f, lexicon) and (whole is None or f in whole))
        or not any(f in word for word in seen)
    }


def _folds_into(
    own: set[str],
    seen: set[str],
    letters: int,
    support: Support,
    lexicon: Lexicon,
    whole: Collection[str] | None,
) -> bool:
    """Whether a reading of a row (its words ``own``, ``letters`` letters) adds nothing to a kept
    reading of the row (its words ``seen``): what it has that one lacks is little
    (:func:`_adds_little`) or only misreadings (:func:`_misread`)."""
    fresh = _fresh(own, seen, lexicon, whole)
    return _adds_little(fresh, letters, support, lexicon) or _misread(fresh, seen, lexicon)


def _misread(fresh: set[str], seen: set[str], lexicon: Lexicon) -> bool:
    """Whether every word of ``fresh`` (a row's other reading has them, a kept reading of the row
    lacks them) is a misreading of the kept reading's words: no number, no word the dictionary
    lists (``in`` beside the kept ``im coffins``, ``دماء`` beside ``دماه`` may be the true
    reading), each a letter or two off a word of ``seen`` or two of them run together
    (:func:`_garbled`). Such a reading adds nothing, however many of its letters those words are."""
    return all(not f.isdigit() and not _listed(f, lexicon) and _garbled(f, seen) for f in fresh)


def _garbled(word: str, seen: set[str]) -> bool:
    """Whether ``word`` is a word of ``seen`` or two of them run together with a letter or two
    wrong, missing or extra, one in four at most (``attritien`` of ``attrition``, ``vengeanes``
    of ``vengeance``, ``vengeancelis`` of ``vengeance is``, ``caysdeft`` of ``days left``)."""
    letters = [w for w in seen if not w.isdigit()]
    return any(
        within_edits(word, target, max(1, len(target) // 4))
        for target in (*letters, *(a + b for a in letters for b in letters if a != b))
    )


def whole_words(tokens: Iterable[str]) -> set[str]:
    """The folded words that some token of ``tokens`` (the words the passes read, as read) holds
    as a word of its own: a token folded to one word (``الله،`` and ``(الله)`` are ``الله``), or
    each word of a hashtag (folding takes ``#`` and ``_`` for spaces). The pieces of a token cut
    in two by a character that is no letter are not (``c`` and ``ming`` of ``C@MING``, ``co`` and
    ``ming`` of ``CO.MING``): Tesseract read one garbled word there, not two (:func:`_fresh`)."""
    found: set[str] = set()
    for token in tokens:
        for unit in normalize(token).split():
            pieces = words(unit)
            if len(pieces) == 1:
                found.add(pieces[0])
    return found


def _listed(word: str, lexicon: Lexicon) -> bool:
    """A word the dictionary lists (an Arabic one by its stem too), not one it knows only as two
    words run together: ``vengea`` is ``ven`` + ``gea`` to :meth:`Lexicon.knows`."""
    return word in lexicon if word.isascii() else lexicon.knows(word)


def family(reader: str) -> str:
    """The kind of pass a reader is. The colour planes of one image and every mask cut from them
    (white, black, gold, the filled masks) are one voice: they read the same specks as the same
    digits, and a filled mask is its mask but for the holes it fills, so what a texture makes of
    the two (``ong`` on a plate of buns, read by the black mask and its filled copy) is one
    reading twice. The clean line crops are another voice, each second pass its own.
    bench/README.md, stop 53"""
    if reader.startswith(CLEAN_PREFIX):
        return CLEAN_PREFIX.rstrip(":")
    if reader in (ROWS_PASS, DIGITS_PASS):
        return reader
    return "planes"


def _number_agreed(word: str, support: Support, lettered: bool) -> bool:
    """A number read by two kinds of pass, one of them surely: a number on the image, which
    carries its line (a sale sign's ``75% 50%``); the colour planes alone never do.

    One digit does only in a line that also holds letters (``lettered``: the ``0`` a handle's
    icon is read as, beside the handle). Every pass reads specks of grain, leaves and ridges as
    lone digits, each somewhere else on the image, and the support of a word is counted over the
    whole image, so a ``5`` there is read by two kinds of pass as often as not. Lines of lone
    digits were 189 of the lines the 43 real images gave and 74 of what 40 drawn pictures
    without text gave (grain, ridges, flags), and none of their digits was on an image
    (``bench/README.md``, OCR, stop 41)."""
    readers = support.get(word, {})
    return (
        word.isdigit()
        and (len(word) >= 2 or lettered)
        and len({family(r) for r in readers}) >= 2
        and max(readers.values(), default=0.0) >= SURE_CONFIDENCE
    )


def _agreed(word: str, support: Support) -> bool:
    """A word many passes read, surely: on the image even where no dictionary holds it (a brand,
    a name). Not a number: the colour planes read the same specks as the same digits."""
    readers = _readings(word, support)
    return (
        len(readers) >= AGREED_SUPPORT
        and len(word) >= SURE_LENGTH
        and not word.isdigit()
        and max(readers.values()) >= SURE_CONFIDENCE
    )


def _line_words(line: Line, support: Support, lexicon: Lexicon) -> list[Word]:
    """The words of one reading of a line that have evidence, each cut down to its folded words
    with evidence (a hashtag folds to several words: ``#الرد د_قادم`` keeps ``الرد`` and ``قادم``).

    A word has evidence on its own (:func:`_word_kept`), or from its line: in a reading whose
    letters are mostly words with evidence of their own, a dictionary word the pass read with
    some confidence is part of that line (the short ``is`` of ``CLOCK IS TICKING``, the word a
    mask half lost); junk glued to a real line is mostly not a word of the language.
    """
    folded = [(w, words(normalize(w.text)), _small_on_crop(line, w)) for w in line.words]
    strong = {
        f for _, fs, small in folded for f in fs if _word_kept(f, support, lexicon, clean_counts=not small)
    }
    letters = sum(len(f) for _, fs, _ in folded for f in fs if len(f) >= 2 or f.isdigit())
    anchored = 2 * sum(len(f) for _, fs, _ in folded for f in fs if f in strong) >= letters > 0
    spelled = [(f, w.conf, small) for w, fs, small in folded for f in fs if len(f) >= 2 and not f.isdigit()]
    if not any(small for _, _, small in spelled) and _a_run([(f, c) for f, c, _ in spelled], lexicon):
        strong |= {f for f, _, _ in spelled}  # a run of dictionary words, each read with some confidence
    out = []
    for word, fs, _ in folded:
        kept = [
            f
            for f in fs
            if f in strong
            or (
                anchored
                and (word.conf >= CONTEXT_CONFIDENCE or vocalised(word.text))
                and len(f) >= CONTEXT_LENGTH
                and not _short_and_unsure(f, support)
                and not f.isdigit()
                and lexicon.knows(f)
            )
        ]
        if kept:
            # as read (the text shown and searched keeps its letters), or only the words kept of it
            text = word.text if len(kept) == len(fs) else " ".join(kept)
            out.append(Word(text, word.conf, word.left, word.top, word.width, word.height, word.crop))
    return out


def _a_run(spelled: list[tuple[str, float]], lexicon: Lexicon) -> bool:
    """Whether one pass's reading of a line, (folded word, confidence) of its words, is a run of
    dictionary words that makes a line of the image on its own: two or more words of three
    letters or more each read at ``LINE_CONFIDENCE``, or of four or more each read at
    ``LONG_RUN_CONFIDENCE`` (a sign one pass read, ``مخرج سيارات`` at 52 and 42). Junk spells
    two long dictionary words in a row far more rarely than short ones: the runs of textures
    read at 35-50 are ``CAT DAM``, ``نوم عمل ساق``, ``puts ple``."""
    if len(spelled) < LINE_WORDS or not all(lexicon.knows(f) for f, _ in spelled):
        return False
    return all(c >= LINE_CONFIDENCE and len(f) >= MIN_KNOWN for f, c in spelled) or all(
        c >= LONG_RUN_CONFIDENCE and len(f) >= SURE_LENGTH for f, c in spelled
    )


Positions = dict[str, dict[str, list[Box]]]
"""Folded word -> {pass: the boxes (image coordinates) where that pass read it}."""

_Candidate = tuple[int, int, Line, set[str], Support]
"""A line that may be kept: its weight, its place, the line pruned, its words, their support."""


def positions_of(readings: Iterable[tuple[str, str, Box]]) -> Positions:
    """Where each pass read each folded word, from (pass, word as read, its box) of every word."""
    positions: Positions = {}
    for reader, text, box in readings:
        for word in words(normalize(text)):
            positions.setdefault(word, {}).setdefault(reader, []).append(box)
    return positions


def _read_here(line: Line, support: Support, positions: Positions, lexicon: Lexicon) -> Support:
    """The support of the line's dictionary words and lone digits, counting only the passes that
    read each where this line has it (the digit readers' lines are built, not read at a place:
    they count).

    A texture makes the same short words in many places (``wee``, ``see``, ``are`` of a plate of
    sesame buns; ``انا`` at the top of a card and again at its foot), and two passes that each
    read one of them somewhere else agree image-wide without reading the same thing. A word on
    the image is read by its passes where it is. So is one digit: grain and flags give every
    pass specks it reads as digits all over. On a held-out flag poster the ``5`` the rows pass
    read beside ``#العد_التنازلي`` counted a ``5`` the green plane read elsewhere, and the line
    made a countdown (:func:`_number_agreed` judges it). Names and longer numbers keep
    image-wide support: a name printed twice is read at each place by fewer passes than at both
    (``Ladun``, stop 41)."""
    local: Support = {}
    for word in line.words:
        box = (word.left, word.top, word.left + word.width, word.top + word.height)
        for folded in words(normalize(word.text)):
            counted_here = len(folded) == 1 if folded.isdigit() else lexicon.knows(folded)
            if not counted_here or folded not in positions:
                continue
            where = positions[folded]
            local[folded] = {
                reader: conf
                for reader, conf in support.get(folded, {}).items()
                if reader == DIGITS_PASS or any(same_place(box, other) for other in where.get(reader, ()))
            }
    return local


def judge_lines(
    lines: list[Line],
    support: Support,
    lexicon: Lexicon,
    unowned: set[WordKey] | frozenset[WordKey] = frozenset(),
    positions: Positions | None = None,
    built: Iterable[tuple[Box, set[str]]] = (),
    whole: Collection[str] | None = None,
) -> Judged:
    """Split ``lines`` (merged, best first) into kept lines (their doubtful words removed) and
    doubtful text. See the module docstring. With ``positions`` (where each pass read each word),
    a line's dictionary words count the passes that read them where the line has them
    (:func:`_read_here`); without, every pass that read them anywhere. ``built``: the rows (box,
    folded words) of countdown lines the glyph readers built (``ocr.digits``), which are not in
    ``lines``: a reading of such a row that holds a number, or only words the built line has,
    is one of its garbled variants (``باقي 09 يوما`` beside ``باقي ٥٩ يوما``) and is folded into
    it; a reading of another line on that row without a number stays (``العد التنازلي بدأ``
    under a glyph line misbuilt from it). ``whole``: the words some pass read as words of their
    own (:func:`whole_words`; None: every word was).

    Of the readings of one row that repeat each other's words, the one with the most letters
    read by the most passes stays (the whole slogan rather than the piece another pass read,
    and the words most passes read rather than a misreading), in its place. A word that is only
    a piece of a kept word and no word itself repeats it too (``ENGEANCE IS COMING`` and
    ``VENGEA`` beside ``VENGEANCE IS COMING``: :func:`_fresh`).
    """
    judged = Judged()
    candidates: list[_Candidate] = []
    image_wide = support
    for place, line in enumerate(lines):
        if positions is not None:
            support = {**image_wide, **_read_here(line, image_wide, positions, lexicon)}
        keep = [w for w in _line_words(line, support, lexicon) if word_key(line.plane, w) not in unowned]
        folded = [f for w in keep for f in words(normalize(w.text))]
        lettered = not all(f.isdigit() for f in folded)
        if not any(
            (len(f) >= MIN_KNOWN and not f.isdigit() and lexicon.knows(f))
            or _agreed(f, support)
            or _number_agreed(f, support, lettered)
            for f in folded
        ):
            judged.doubtful.append(line.text)
            continue
        if len(folded) < len(words(line.norm or normalize(line.text))):
            judged.doubtful.append(line.text)  # as read, for whoever debugs what was dropped
        pruned = Line(keep, line.plane, " ".join(folded))  # norm: the folded words
        weight = _weight(folded, support)
        candidates.append((weight, place, pruned, set(folded), support))
    kept_rows: list[tuple[Box, set[str], bool]] = [(box, seen, True) for box, seen in built]
    chosen: list[tuple[int, Line]] = []
    for _, place, pruned, own, support in sorted(candidates, key=lambda c: (-c[0], c[1])):
        box = pruned.box
        letters = sum(len(f) for f in own)
        numbered = any(f.isdigit() for f in own)
        # Another pass's reading of a kept line on the same row adds nothing but its variants,
        # unless it holds a word with evidence of its own that the kept reading lacks (the unit
        # of a countdown a rotated JPEG gave one pass only with its number): not a piece or a
        # misreading of the kept words (``_folds_into``).
        if any(
            same_row(box, row)
            and _folds_into(own, seen, letters, support, lexicon, whole)
            and (not constructed or numbered or own <= seen)
            for row, seen, constructed in kept_rows
        ):
            judged.doubtful.append(pruned.text)
            continue
        kept_rows.append((box, own, False))
        chosen.append((place, pruned))
    judged.kept = [line for _, line in sorted(chosen, key=lambda c: c[0])]
    return judged


def _weight(folded: Iterable[str], support: Support) -> int:
    """How much the passes speak for these words: each word's letters times the passes that
    read it (up to ``_SUPPORT_CAP``)."""
    return sum(len(f) * min(len(support.get(f, ())), _SUPPORT_CAP) for f in folded)


def countdown_copies(
    kept: list[Line], first: str, places: list[Box], support: Support, read_as: str | None = None
) -> tuple[list[Line], list[str]]:
    """The kept lines split into those that stay and other passes' garbled copies of the countdown
    line that goes first (``first``, written as the countdown vote chose it; ``places``: where
    the passes read that line, or the glyph reader built it).

    A copy is read where that line is (:func:`_tightest` of ``places``, :func:`same_line`), holds
    no number but the countdown's, has no more words, and the words it has in place of the first
    line's weigh less than those (:func:`_weight`: letters times the passes that read them):
    ``logs 16 باقي`` beside ``باقي 16 يوما`` (the English model's ``logs`` for يوما), ``Only 41 days
    lett.`` beside ``Only 41 days left``, a lone ``Legs`` where the line has يوما, ``Wall dass
    leit`` of ``Only 41 days left``. The dictionary lists those words, and two passes or a sure
    clean crop read them, so they had evidence of their own. A line of its own stays: at another
    place (a hashtag above the countdown, the slogan under it), or with more words (``41 days
    left until vengeance``). ``read_as``: the line the vote chose as read, where ``first`` is it
    written out whole; that reading is a copy, however many passes read its words (``logs 66
    باقي``, which twelve planes read alike, written out as ``باقي 66 يوما``)."""
    value = countdown_value(first)
    if value is None or not places:
        return kept, []
    where = _tightest(places)
    seen = words(normalize(first))
    stay, copies = [], []
    for line in kept:
        own = words(normalize(line.text))
        if (
            len(own) <= len(seen)
            and any(same_line(line.box, place) for place in where)
            and no_other_number(line.text, value[0])
            and (
                line.text == read_as
                or _weight(set(own) - set(seen), support) < _weight(set(seen) - set(own), support)
            )
        ):
            copies.append(line.text)
        else:
            stay.append(line)
    return stay, copies


def _tightest(boxes: list[Box]) -> list[Box]:
    """The boxes that hold no other one of ``boxes``: a row's box around a tighter box of the same
    line tells less of where the line lies (on a fire poster the glyph reader's row of the
    countdown, 107 px tall, held the slogan under the 34 px line as well)."""
    return [
        box
        for box in boxes
        if not any(
            other != box
            and box[0] <= other[0]
            and box[1] <= other[1]
            and box[2] >= other[2]
            and box[3] >= other[3]
            for other in boxes
        )
    ]


def word_key(reader: str, word: Word) -> WordKey:
    """One word of one pass's reading: the pass, the line crop and the word's box (its text may be
    cut down to the words with evidence, its box is not)."""
    return reader, word.crop, word.left, word.top, word.width


def foreign_words(results: list[PassResult]) -> dict[WordKey, float]:
    """The words of each clean line crop that the model not its own read, each with the mean
    confidence of the crop's own model (how sure the owner was).

    Every clean line crop is read by each language's model (``lines:ara``, ``lines:eng``). The
    model of the crop's script reads it surely; the other makes words of its own language out of
    the same glyphs (``youl`` and ``pees`` of an Arabic line, ``logs`` of ``يوما``, ``sli`` of
    ``ثأر``, ``15`` of ``IS``). So on each crop the model with the higher mean confidence over
    the words it read with a letter in them owns it (a ``_`` or ``-`` read at 90 says nothing of
    the script: it made the English model the owner of a crop of ``#باقي``, whose Arabic reading
    was 51 and 67). A model that read no letter of a crop owns it only if neither did.

    ``finish`` gives :func:`support_of` none of the words whose owner was ``SURE_CONFIDENCE`` sure
    or more: where neither model read a crop surely, the mean picks the owner by a
    hair and may pick wrong (a vocalised verse: ``ceylell go al`` at 60 against ``إن الله مع
    الصابرين`` at 44, whose ``مع`` was read at 97), so there both readings keep their evidence.
    Measured on the stored passes (``bench/README.md``, OCR, stop 49): seeds 0-34, two keywords
    gained, none lost; the real set, the same words found and 15 fewer junk tokens."""
    confidences: dict[tuple[str, int], list[float]] = {}
    for result in results:
        if result.plane.startswith(CLEAN_PREFIX):
            for found in result.lines:
                for word in found:
                    if any(ch.isalpha() for ch in word.text):
                        confidences.setdefault((result.plane, word.crop), []).append(word.conf)
    mean = {key: sum(values) / len(values) for key, values in confidences.items()}
    best: dict[int, float] = {}  # crop -> the mean confidence of the model that owns it
    for (_, crop), value in mean.items():
        best[crop] = max(best.get(crop, value), value)
    return {
        word_key(result.plane, word): best[word.crop]
        for result in results
        if result.plane.startswith(CLEAN_PREFIX)
        for found in result.lines
        for word in found
        if word.crop in best and mean.get((result.plane, word.crop), 0.0) < best[word.crop]
    }


def unowned_words(results: list[PassResult], support: Support, foreign: Collection[WordKey]) -> set[WordKey]:
    """Of the ``foreign`` words (:func:`foreign_words`), those no other pass of ``support`` read
    too (the digit readers' lines are built, not read): they leave their line
    (:func:`judge_lines`), where a run of dictionary words could otherwise carry them. Measured
    on the words that reached the text from stored passes of the real images and synthetic seeds
    0-4: such words were junk 157 times in 161."""

    def alone(reader: str, word: Word) -> bool:
        folded = words(normalize(word.text))
        return bool(folded) and all(set(support.get(f, ())) - {DIGITS_PASS} <= {reader} for f in folded)

    return {
        key
        for result in results
        if result.plane.startswith(CLEAN_PREFIX)
        for found in result.lines
        for word in found
        if (key := word_key(result.plane, word)) in foreign and alone(result.plane, word)
    }


def countdown_rows(readings: list[tuple[str, str, Box]]) -> list[Box]:
    """Rows that a pass read like a countdown line on its own ("remaining" word and unit, two
    different words, with or without the number: ``ocr.digits.countdown_template``; or an
    English "N days left"), from (pass, text, box) of every pass's lines."""
    rows: list[tuple[Box, set[str]]] = []
    for reader, text, box in readings:
        if countdown_template(text) is None and countdown_value(text) is None:
            continue
        for index, (row, readers) in enumerate(rows):
            if same_row(row, box):
                union = (min(row[0], box[0]), min(row[1], box[1]), max(row[2], box[2]), max(row[3], box[3]))
                rows[index] = (union, readers | {reader})
                break
        else:
            rows.append((box, {reader}))
    return [row for row, _ in rows]
