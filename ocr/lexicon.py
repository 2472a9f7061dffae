"""The words of Arabic and English that Tesseract itself knows: a language model to judge OCR lines.

A line that several passes read alike is probably on the image; a line whose words no dictionary
of the language holds is probably flames or grain read as letters. The dictionaries are the
word lists inside Tesseract's own models (``ara.traineddata``: 113,000 word forms with their
prefixes and suffixes; ``eng.traineddata``: 338,000): the ones it was trained with, already on
every machine that reads posters, offline. Why not a word-list package: Debian has no Arabic
one with inflected forms (``hunspell-ar`` needs its affix rules), and these are the words the
recogniser was biased towards anyway.

They are extracted once with Tesseract's own tools (``combine_tessdata -u`` and
``dawg2wordlist``, part of Debian's ``tesseract-ocr``), folded with
:func:`monitor.core.text.normalize` and cached in ``~/.cache/tgmonitor`` (about a second, once).
The Arabic ones are also kept as spelt (:func:`spellings_for`): folding merges ``تأر`` (no word)
into ``تار`` (a word), and the dots the passes lose are told by the spelling (``ocr.dots``).
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from monitor.core import _native
from monitor.core.errors import OcrError
from monitor.core.text import INDEX_VERSION, normalize, strip_proclitics
from ocr.disk_cache import cache_file, file_stamps, write_atomically
from ocr.tesseract import tesseract_info

log = logging.getLogger(__name__)

__all__ = ["SPELT_ARABIC", "Lexicon", "lexicon_for", "spellings_for"]

_VERSION = 1  # bump when the extraction changes; the disk cache is keyed on it and on INDEX_VERSION
_LOCK = threading.Lock()
SPELT_ARABIC = re.compile("[\u0621-\u063a\u0641-\u064a]{3,}")
"""An Arabic word of three letters or more, as spelt: letters only, no harakat, no tatweel."""


class Lexicon:
    """A set of folded words; :meth:`knows` accepts a folded OCR token.

    The words are kept as one sorted UTF-8 text, a word a line, and looked up in place
    (``monitor.core._native.in_sorted_lines``): a one-image process (``check --image``) reads the
    disk cache, which is that text already, against about 1,000 lookups an image. A frozenset of
    its 290,000 words took 33 ms of CPU to hash them all, a sorted list of them 23 ms to split."""

    def __init__(self, words: Iterable[str]) -> None:
        distinct = sorted({word for word in words if word and "\n" not in word})  # a word is a line
        self._lines = "\n".join(distinct).encode()
        self._count = len(distinct)

    @classmethod
    def of_sorted(cls, lines: bytes) -> Lexicon:
        """A lexicon of ``lines``: UTF-8 words, distinct, sorted and joined by newlines already
        (the disk cache), kept as they are."""
        lexicon = cls.__new__(cls)
        lexicon._lines = lines
        lexicon._count = lines.count(b"\n") + 1 if lines else 0
        return lexicon

    def __len__(self) -> int:
        return self._count

    @property
    def lines(self) -> bytes:
        """The words as the disk cache keeps them: sorted, distinct, a word a line, UTF-8."""
        return self._lines

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and _native.in_sorted_lines(self._lines, word)

    def knows(self, word: str) -> bool:
        """Whether ``word`` (already folded by ``normalize``) is a word of the language.

        Numbers are words. The dictionaries do not list every form, so an Arabic word is also
        known by its stem without a proclitic (و، ف، ب، ل، ال...), the future prefix س or a
        common suffix (ون، ين، ات، ها، هم...), and a Latin word by two known words run together
        (hashtags: ``daysleft``).
        """
        if word.isdigit():
            return True
        if len(word) < 2:
            return False
        if word in self:
            return True
        if "\u0600" <= word[0] <= "\u06ff":
            return any(stem in self for stem in _arabic_stems(word))
        return word.isascii() and any(
            word[:cut] in self and word[cut:] in self for cut in range(3, len(word) - 2)
        )


_SUFFIXES = ("ون", "ين", "ات", "ان", "ها", "هم", "هن", "كم", "نا", "وا", "تم", "ه", "ي")


def _arabic_stems(word: str) -> list[str]:
    """Forms of ``word`` without its proclitics, a future س, and one common suffix (stems of
    three letters or more): light stemming, enough to find a form in a list of word forms."""
    forms = [word, *strip_proclitics(word)]
    forms += [f[1:] for f in forms if f.startswith("س") and len(f) >= 5]
    forms += [f[: -len(s)] for f in list(forms) for s in _SUFFIXES if f.endswith(s) and len(f) - len(s) >= 3]
    return forms[1:]


def _tessdata_file(language: str) -> Path | None:
    """The model of ``language`` in the folder the ``tesseract`` command reads its models from
    (``ocr.tesseract.tesseract_info``, which also honours ``TESSDATA_PREFIX``)."""
    try:
        folder = tesseract_info()["tessdata"]
    except OcrError:  # no Tesseract: no dictionaries either (the OCR says why, not this)
        return None
    candidate = Path(folder) / f"{language}.traineddata"
    return candidate if folder and candidate.is_file() else None


def _extract(traineddata: Path) -> list[str]:
    """The words of one model's word dictionary, or nothing when the tools or the part are missing."""
    combine, dawg2 = shutil.which("combine_tessdata"), shutil.which("dawg2wordlist")
    if combine is None or dawg2 is None:
        log.warning("combine_tessdata/dawg2wordlist not found: OCR lines are judged without a dictionary")
        return []
    language = traineddata.name.removesuffix(".traineddata")
    with tempfile.TemporaryDirectory(prefix="tgmonitor-lexicon-") as folder:
        prefix = str(Path(folder) / f"{language}.")
        try:
            subprocess.run(
                [combine, "-u", str(traineddata), prefix], capture_output=True, timeout=60, check=True
            )
            out = Path(folder) / "words.txt"
            subprocess.run(
                [dawg2, prefix + "lstm-unicharset", prefix + "lstm-word-dawg", str(out)],
                capture_output=True,
                timeout=60,
                check=True,
            )
            return out.read_text(encoding="utf-8", errors="replace").split()
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("could not read the word list of %s: %s", traineddata, exc)
            return []


def _cache_file(sources: list[Path], spelt: bool) -> Path:
    # INDEX_VERSION changes with every change of the fold (the index needs it too), so a cache of
    # words folded by an older normaliser is not read back.
    kind = "spellings" if spelt else "lexicon"
    return cache_file(kind, (_VERSION, INDEX_VERSION, file_stamps(sources)), ".txt")


@lru_cache(maxsize=8)
def _load(languages: str, spelt: bool) -> Lexicon:
    sources = [p for p in (_tessdata_file(lang) for lang in languages.split("+") if lang) if p is not None]
    if not sources:
        return Lexicon(())
    cache = _cache_file(sources, spelt)
    with contextlib.suppress(OSError):  # one word a line, sorted, no empty line: the lexicon as it is
        return Lexicon.of_sorted(cache.read_bytes())
    extracted = [word for source in sources for word in _extract(source)]
    folded = {f for word in extracted if (f := normalize(word)) and " " not in f}
    spellings = {word for word in extracted if SPELT_ARABIC.fullmatch(word)}
    made = {False: Lexicon(folded), True: Lexicon(spellings)}
    for kind, lexicon in made.items():  # both from one extraction (about a second)
        with contextlib.suppress(OSError):  # a read-only home: keep it in memory only
            write_atomically(_cache_file(sources, kind), lexicon.lines)
    return made[spelt]


def lexicon_for(languages: str = "ara+eng") -> Lexicon:
    """The folded words of Tesseract's dictionaries for ``languages`` (``ara+eng``), once per process."""
    with _LOCK:  # a warm-up thread may be building it right now
        return _load(languages, False)


def spellings_for(languages: str = "ara+eng") -> Lexicon:
    """The Arabic words of Tesseract's dictionaries for ``languages`` as they are spelt (letters
    only, :data:`SPELT_ARABIC`), once per process; looked up as spelt, not folded."""
    with _LOCK:
        return _load(languages, True)
