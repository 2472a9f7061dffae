"""Countdowns in English and Arabic (MSA and Iraqi dialect), and countdown series.

A countdown is built in, not a rule: "59 days left", ``#59daysleft``, "T-minus 5 days",
``باقي ٥٩ يوما``, ``#باقي٥٩يوما``, ``لم يتبق سوى ٥٦ يوما``, ``العد التنازلي: 10 أيام``,
``باقي ثلاثة أيام`` (number words), ``بقي يومان`` (dual), ``ضل ٤٠ يوم`` (Iraqi),
``۵۹ روز مانده`` (Persian), ``لا يفصلنا عن ٣١/١٢/٢٠٢١ سوى ٤٢ يوما`` (an explicit date), or a bare
number after ``#العد_التنازلي``. Patterns run on normalised text (:func:`monitor.core.text.normalize`),
so diacritics, letter variants, Eastern Arabic and Persian digits and hashtag underscores need no
special cases here. Weeks are read as days (3 weeks -> 21 days).

A countdown to Ramadan, an exam, New Year or a product launch is still a countdown, but it is not
*alertable* unless a threat or enemy word is in the same post. :func:`series_deadline` finds the
common deadline of a channel's successive countdown posts.

We write our own patterns: no library reads Arabic countdown phrasings.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import ahocorasick

from monitor.core.detection import Countdown, CountdownPoint
from monitor.core.literals import Literals
from monitor.core.text import normalize, normalize_with_offsets, original_span

__all__ = [
    "find_countdown",
    "parse_number",
    "series_deadline",
]

# --- numbers -------------------------------------------------------------------------------

_AR_UNITS = {
    "واحد": 1, "واحده": 1, "اثنان": 2, "اثنين": 2, "اثنتان": 2, "اثنتين": 2,
    "ثلاث": 3, "ثلاثه": 3, "ثلث": 3, "اربع": 4, "اربعه": 4, "خمس": 5, "خمسه": 5,
    "ست": 6, "سته": 6, "سبع": 7, "سبعه": 7, "ثمان": 8, "ثماني": 8, "ثمانيه": 8, "ثمن": 8,
    "تسع": 9, "تسعه": 9, "عشر": 10, "عشره": 10,
}  # fmt: skip
_AR_TEENS = {
    "احد عشر": 11, "احدي عشر": 11, "احدي عشره": 11, "اثنا عشر": 12, "اثني عشر": 12,
    "اثنتا عشره": 12, "اثنتي عشره": 12,
    # Iraqi spoken teens
    "احدعش": 11, "اثنعش": 12, "ثنعش": 12, "ثلطعش": 13, "ثلاثطعش": 13, "اربعطعش": 14,
    "خمسطعش": 15, "ستطعش": 16, "سبعطعش": 17, "ثمنطعش": 18, "تسعطعش": 19,
}  # fmt: skip
_AR_TENS = {
    "عشرون": 20, "عشرين": 20, "ثلاثون": 30, "ثلاثين": 30, "اربعون": 40, "اربعين": 40,
    "خمسون": 50, "خمسين": 50, "ستون": 60, "ستين": 60, "سبعون": 70, "سبعين": 70,
    "ثمانون": 80, "ثمانين": 80, "تسعون": 90, "تسعين": 90, "مئه": 100, "مائه": 100, "ميه": 100,
}  # fmt: skip
_EN_UNITS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_EN_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90, "hundred": 100, "a hundred": 100,
}  # fmt: skip


class _Lazy:
    """A regular expression compiled where it is first used. The countdown's expressions (their
    number words and units) took 13 ms to compile, on the import of every process that detects,
    ``check --image``'s included; most texts are done before they reach any of them
    (``_NEEDED_SCAN`` stops most posts first), and a text that does compiles only what it runs."""

    __slots__ = ("_compiled", "_source")

    def __init__(self, source: str) -> None:
        self._source = source
        self._compiled: re.Pattern[str] | None = None

    def _pattern(self) -> re.Pattern[str]:
        if self._compiled is None:  # two threads may both compile it: the same pattern either way
            self._compiled = re.compile(self._source)
        return self._compiled

    def search(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self._pattern().search(text, pos, endpos)

    def finditer(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> Iterator[re.Match[str]]:
        return self._pattern().finditer(text, pos, endpos)


def _alt(words: list[str] | set[str] | dict[str, int]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


# Teens by construction: ثلاثه عشر, خمس عشره ...
for _word, _n in list(_AR_UNITS.items()):
    if 3 <= _n <= 9:
        for _ten in ("عشر", "عشره"):
            _AR_TEENS.setdefault(f"{_word} {_ten}", 10 + _n)

_AR_NUM = (
    rf"(?:(?:{_alt(_AR_UNITS)}) و ?(?:{_alt(_AR_TENS)})|{_alt(_AR_TEENS)}|{_alt(_AR_TENS)}|{_alt(_AR_UNITS)})"
)
_EN_NUM = rf"(?:(?:{_alt(_EN_TENS)})(?:[- ](?:{_alt(_EN_UNITS)}))?|{_alt(_EN_UNITS)}|an?)"
_NUM = rf"(?:\d{{1,4}}|{_AR_NUM}|{_EN_NUM})"


def parse_number(words: str) -> int | None:
    """Read a number written in digits or in Arabic or English words (normalised text)."""
    words = words.strip()
    if words.isdigit():
        return int(words)
    if words in ("a", "an"):
        return 1
    for table in (_AR_TEENS, _AR_TENS, _AR_UNITS, _EN_UNITS, _EN_TENS):
        if words in table:
            return table[words]
    m = re.fullmatch(rf"({_alt(_AR_UNITS)}) و ?({_alt(_AR_TENS)})", words)
    if m:
        return _AR_UNITS[m.group(1)] + _AR_TENS[m.group(2)]
    m = re.fullmatch(rf"({_alt(_EN_TENS)})[- ]({_alt(_EN_UNITS)})", words)
    if m:
        return _EN_TENS[m.group(1)] + _EN_UNITS[m.group(2)]
    return None


# --- units ---------------------------------------------------------------------------------

_DAY = r"(?:ايام|يوما|يوم|days|day|روز|ليال|ليله)"
_HOUR = r"(?:ساعات|ساعه|ساعت|hours|hour|hrs|hr)"
_WEEK = r"(?:اسابيع|اسبوعا|اسبوع|weeks|week)"
_UNIT = rf"(?:{_DAY}|{_HOUR}|{_WEEK})"
_DUAL = {"يومان": ("day", 2), "يومين": ("day", 2), "ساعتان": ("hour", 2), "ساعتين": ("hour", 2),
         "اسبوعان": ("week", 2), "اسبوعين": ("week", 2), "ليلتين": ("day", 2)}  # fmt: skip
_DUAL_RE = _alt(_DUAL)


def _unit_of(word: str) -> str:
    if re.fullmatch(_HOUR, word):
        return "hour"
    if re.fullmatch(_WEEK, word):
        return "week"
    return "day"


# --- patterns on normalised text -------------------------------------------------------------

_REMAIN_AR = (
    r"(?:باقي|بقي|بقيت|تبقي|تبقت|يتبقي|متبقي|المتبقي|لم يتبق|لم يتبقي|لم يبق|لم يبقي|ما بقي|ما تبقي|"
    r"ما زال|مازال|لا يزال|لازال|ضل|ظل|ضلت|ظلت|ضايل|ظايل|باقيلكم|باقيلهم|باقيلنا|باقيلك|باقيله|باقيلها|"
    r"باقيلي|يتبقي لكم)"
)
_FILLER_AR = (
    r"(?:سوي|الا|فقط|بس|عليكم|عليهم|علينا|عليه|عليها|لكم|لهم|لنا|من الزمن|من الوقت|امامكم|امامهم|على|علي|الا)"
)
_FILLER_EN = r"(?:only|just|a mere|mere|about|more|another)"
_SEP = r"[\s:,.\-–—]*"  # what may sit between a marker and its number

_W = r"(?<![\w])"  # a word starts here
_E = r"(?![\w])"  # a word ends here

_PATTERNS: list[tuple[str, _Lazy]] = [
    # لا يفصلنا عن ٣١/١٢/٢٠٢١ سوى ٤٢ يوما ; only 42 days separate us from December 31, 2021
    (
        "separates",
        _Lazy(
            rf"{_W}(?:لا|لم|ما) (?:يفصلنا|تفصلنا|يفصلكم|تفصلكم|يبعدنا) عن (?P<target>.{{1,60}}?) "
            rf"(?:سوي|الا|غير) (?P<num>{_NUM}){_SEP}(?P<unit>{_UNIT}){_E}"
        ),
    ),
    (
        "separates",
        _Lazy(
            rf"{_W}(?P<num>{_NUM}){_SEP}(?P<unit>{_UNIT}) (?:only |just )?(?:separate us from|separates us from|"
            rf"تفصلنا عن|يفصلنا عن|تفصلكم عن)(?P<target>.{{1,60}})"
        ),
    ),
    # باقي ٥٩ يوما ، لم يتبق سوى ٥٦ يوما ، باقي عليهم ١٥ يوم ، ضل ٤٠ يوم
    (
        "remain",
        _Lazy(
            rf"{_W}{_REMAIN_AR}(?: {_FILLER_AR}){{0,3}}{_SEP}(?:(?P<num>{_NUM}){_SEP}(?P<unit>{_UNIT})|"
            rf"(?P<dual>{_DUAL_RE})|(?P<unit1>يوم|ساعه|اسبوع)(?: (?:واحد|واحده|فقط|بس)|(?= علي)|{_SEP}$)){_E}"
            # بقي/ظل also mean "stayed": "بقي ٣ أيام في المستشفى" is a past stay, not a countdown
            rf"(?! (?:في|فيها|فيه|بالمستشفي|هناك|محاصر|محاصرا|معتصما|معتقلا|مختطفا))"
        ),
    ),
    # ٣ أيام متبقية ; ۵۹ روز مانده
    (
        "remain",
        _Lazy(
            rf"{_W}(?P<num>{_NUM}){_SEP}(?P<unit>{_UNIT}) (?:فقط |بس )?(?:متبقيه|باقيه|متبقي|تبقت|بقيت|"
            rf"مانده|باقي مانده|مونده){_E}"
        ),
    ),
    # العد التنازلي: ١٠ أيام ; العد التنازلي لخروج المحتل: ٥٥ يوما ; #العد_التنازلي ٣
    (
        "countdown",
        _Lazy(
            rf"{_W}(?:العد التنازلي|countdown)(?P<gap>[^\d]{{0,50}}?){_SEP}(?P<num>{_NUM}){_SEP}"
            rf"(?P<unit>{_UNIT}){_E}"
        ),
    ),
    # a bare number right after the marker, unless another unit follows (10 دقائق, 3 months, 5%)
    (
        "bare",
        _Lazy(
            rf"{_W}(?:العد التنازلي|countdown){_SEP}(?P<num>\d{{1,3}})(?![\d.,/%])"
            r"(?!\s*(?:سنه|سنوات|سنين|شهر|شهور|اشهر|دقيقه|دقائق|دقايق|ثانيه|ثواني|عام|اعوام|years?|months?|"
            r"minutes?|mins?|seconds?|secs?)(?!\w))"
        ),
    ),
    # الأيام المتبقية: ٢٠ ; days left: 5
    (
        "left-label",
        _Lazy(
            rf"{_W}(?P<unitw>الايام|الساعات|days|hours) (?:المتبقيه|الباقيه|left|remaining|to go){_SEP}"
            rf"(?P<num>\d{{1,4}}){_E}"
        ),
    ),
    # 59 days left ; #59daysleft ; only 3 days remain ; two days left ; 10 days to go
    (
        "left",
        _Lazy(
            rf"{_W}(?:{_FILLER_EN} )?(?P<num>{_NUM}){_SEP}(?:{_FILLER_EN} )?(?P<unit>{_UNIT}) ?"
            rf"(?:left|remain|remains|remaining|to go|until|till|from now){_E}"
        ),
    ),
    # T-minus 5 days
    ("tminus", _Lazy(rf"{_W}t ?- ?minus{_SEP}(?P<num>{_NUM})(?:{_SEP}(?P<unit>{_UNIT}))?{_E}")),
    # #٥٩_يوما_على_رحيل_المحتل (but not "مرور ٥ أيام على" = five days *since*)
    (
        "until",
        _Lazy(
            rf"(?<!مرور )(?<!منذ )(?<!بعد )(?<!خلال )(?<!قبل )(?<!طوال )(?<!لمده )(?<!مده )(?<!اخر )(?<!اول )"
            rf"{_W}(?P<num>\d{{1,3}}) (?P<unit>يوما|يوم|ايام|ساعه|ساعات) (?:علي|الي|حتي|لحين) "
            rf"(?:رحيل|خروج|انسحاب|طرد|انتهاء|نهايه|موعد|ساعه|يوم|الرد|الانتقام|الثار)"
        ),
    ),
]

# Every pattern contains a unit word or a countdown marker: the patterns only run in a window
# around these anchors, so a long post costs one cheap scan plus a few short windows.
_ANCHOR = re.compile(r"يوم|ايام|ساع|اسبوع|اسابيع|ليال|ليله|روز|تنازلي|day|hour|hr|week|countdown|minus")
_ANCHOR_WORDS = tuple(_ANCHOR.pattern.split("|"))
# Per pattern of _PATTERNS, words every match of it contains: a pattern runs only in a text that
# has one of them. Common words such as اليوم put an anchor and a number in most windows; without
# these, all ten patterns (number words and all) ran there.
_NEEDS: tuple[tuple[str, ...], ...] = (
    ("يفصلنا", "تفصلنا", "يفصلكم", "تفصلكم", "يبعدنا"),
    ("separate", "تفصلنا", "يفصلنا", "تفصلكم"),
    tuple(_REMAIN_AR.removeprefix("(?:").removesuffix(")").split("|")),
    ("متبقيه", "باقيه", "متبقي", "تبقت", "بقيت", "مانده", "مونده"),
    ("العد التنازلي", "countdown"),
    ("العد التنازلي", "countdown"),
    ("المتبقيه", "الباقيه", "left", "remaining", "to go"),
    ("left", "remain", "to go", "until", "till", "from now"),
    ("minus",),
    tuple(
        f"{unit} {to} "
        for unit in ("يوما", "يوم", "ايام", "ساعه", "ساعات")
        for to in ("علي", "الي", "حتي", "لحين")
    ),
)
assert len(_NEEDS) == len(_PATTERNS)
# Deterministic automata in C (monitor.core.literals): most Arabic letters start some anchor,
# and pyahocorasick's walk of its trie cost 25 ns a character of every post. The words the
# patterns need are looked for first: most posts have an anchor (اليوم) and none of them, and
# stop after that one pass.
_NEEDED: dict[str, set[int]] = {}  # word -> the patterns it lets run
for _k, _words in enumerate(_NEEDS):
    for _word in _words:
        _NEEDED.setdefault(_word, set()).add(_k)
_NEEDED_SCAN = Literals({_word: frozenset(_patterns) for _word, _patterns in _NEEDED.items()})
_ANCHOR_SCAN = Literals({_word: len(_word) for _word in _ANCHOR_WORDS})
_AFTER = 60
# How far before its anchor a pattern may start: far for "marker ... number unit" (لا يفصلنا عن
# <date> سوى ٤٢ يوما), near for "number unit ..." whose number sits right before the unit word.
# A near window keeps the slow number-words alternation off most of the text.
_FAR, _NEAR = 170, 45
_REACH = [_FAR, _NEAR, _FAR, _NEAR, _FAR, _FAR, _NEAR, _NEAR, _NEAR, _NEAR]
assert len(_REACH) == len(_PATTERNS)
_BARE_ONLY = re.compile(r"\s*(\d{1,3})\s*")
# Every pattern needs a number (digits, number words, a dual such as يومين) or a "remaining" word
# (باقي يوم فقط): a window around a unit word without any of them ("اليوم", "today") is skipped
# before the patterns run. Common words such as اليوم make this the detector's hot path.
_WORTH_A_LOOK = _Lazy(
    rf"\d|(?<!\w)و?(?:{_alt(_AR_UNITS)}|{_alt(_AR_TENS)}|{_alt(_EN_UNITS)}|{_alt(_EN_TENS)}|an?)(?!\w)"
    rf"|{_DUAL_RE}|{_REMAIN_AR}|{_FILLER_EN}|left|remain"
)

# The same test, cheaper first: most windows (اليوم, "today") hold none of these, and the regex
# above tries every alternative at every position. A window passes the quick test if it has a
# digit, a bounded number word among its words, or one of the unbounded alternatives anywhere
# (an automaton); only then does the regex decide. The quick test never says no where the
# regex would say yes (``test_countdown_quick_filter_agrees``).
_BOUNDED = {*_AR_UNITS, *_AR_TENS, *_EN_UNITS, *(w for t in _EN_TENS for w in t.split()), "a", "an"}
_BOUNDED_WORDS = frozenset({*_BOUNDED, *("و" + w for w in _BOUNDED)})
# One automaton for both: an unbounded alternative anywhere, or a bounded word that is a whole
# word of the window (checked on its hits; a word cut by the window's edge counts as a word).
_QUICK = ahocorasick.Automaton()
for _literal in (
    *_DUAL,
    *_REMAIN_AR.removeprefix("(?:").removesuffix(")").split("|"),
    *_FILLER_EN.removeprefix("(?:").removesuffix(")").split("|"),
    "left",
    "remain",
):
    _QUICK.add_word(_literal, (0, _literal))
for _literal in _BOUNDED_WORDS:
    if _QUICK.get(_literal, None) is None:  # an unbounded literal already says yes anywhere
        _QUICK.add_word(_literal, (len(_literal), _literal))
_QUICK.make_automaton()
_DIGIT = re.compile(r"\d").search


def _is_word_char(c: str) -> bool:
    """``\\w`` of ``re`` for one character."""
    return c.isalnum() or c == "_"


def _worth_a_look(norm: str, lo: int, hi: int) -> bool:
    """``_WORTH_A_LOOK.search(norm, lo, hi)``, with a quick no for most windows."""
    if _DIGIT(norm, lo, hi):
        return True
    # The window is sliced, not passed as bounds: the automaton copies the whole string it is
    # given, which made a 10 MB post cost its length once per window.
    for end, (length, _) in _QUICK.iter(norm[lo:hi]):
        if not length:  # unbounded
            break
        end += lo
        start = end + 1 - length
        if (start == lo or not _is_word_char(norm[start - 1])) and (
            end + 1 == hi or not _is_word_char(norm[end + 1])
        ):
            break
    else:
        return False
    return _WORTH_A_LOOK.search(norm, lo, hi) is not None


# --- explicit dates ------------------------------------------------------------------------

_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
    "oct": 10, "nov": 11, "dec": 12,
    "يناير": 1, "فبراير": 2, "مارس": 3, "ابريل": 4, "مايو": 5, "يونيو": 6, "يوليو": 7,
    "اغسطس": 8, "سبتمبر": 9, "اكتوبر": 10, "نوفمبر": 11, "ديسمبر": 12,
    "كانون الثاني": 1, "شباط": 2, "اذار": 3, "نيسان": 4, "ايار": 5, "حزيران": 6, "تموز": 7,
    "اب": 8, "ايلول": 9, "تشرين الاول": 10, "تشرين الثاني": 11, "كانون الاول": 12,
}  # fmt: skip
_MONTH_RE = _alt(_MONTHS)
_DATE_PATTERNS = [
    (_Lazy(r"(?<!\d)(\d{1,2}) ?[/\-.] ?(\d{1,2}) ?[/\-.] ?(\d{4})(?!\d)"), "dmy"),
    (_Lazy(r"(?<!\d)(\d{4}) ?[/\-.] ?(\d{1,2}) ?[/\-.] ?(\d{1,2})(?!\d)"), "ymd"),
    (_Lazy(rf"(?<!\w)({_MONTH_RE}) (\d{{1,2}}),? (\d{{4}})(?!\d)"), "mdy"),
    (
        _Lazy(rf"(?<!\d)(\d{{1,2}}) (?:من )?(?:شهر )?({_MONTH_RE}),? (?:عام |سنه )?(\d{{4}})(?!\d)"),
        "dMy",
    ),
]


def _parse_date(text: str) -> datetime | None:
    for pattern, order in _DATE_PATTERNS:
        m = pattern.search(text)
        if not m:
            continue
        a, b, c = m.groups()
        try:
            if order == "dmy":
                return datetime(int(c), int(b), int(a), tzinfo=UTC)
            if order == "ymd":
                return datetime(int(a), int(b), int(c), tzinfo=UTC)
            if order == "mdy":
                return datetime(int(c), _MONTHS[a], int(b), tzinfo=UTC)
            return datetime(int(c), _MONTHS[b], int(a), tzinfo=UTC)
        except ValueError:  # 31/02/2021 and friends
            continue
    return None


# --- context: benign look-alikes and threat words ------------------------------------------

_PRE = r"(?<!\w)(?:[وفبلك]|وب|ول|فب|فل)?(?:ال|لل)?"
_BENIGN = _Lazy(
    _PRE + r"(?:رمضان|امتحان|امتحانات|اختبار|اختبارات|عيد|العيد|راس السنه|السنه الجديده|العام الجديد|"
    r"الميلاد|كريسماس|كريسمس|الكريسماس|بابا نويل|كاس العالم|مونديال|بطوله|مباراه|دوري|حفل|زفاف|عرس|"
    r"افتتاح|اطلاق|عرض|موسم|تخفيضات|عروض|تسجيل|تقديم|دوام|عطله|انتخابات|زياره الاربعين|محرم|عاشورا|"
    r"حج|مولد|تخرج|مهرجان|معرض|ماراثون|مسابقه|نتائج|قبول|حلقه|مسلسل|فيلم)"
    r"(?!\w)"
    r"|(?<!\w)(?:christmas|xmas|new year|ramadan|eid|exams?|finals|launch|release|premiere|season|"
    r"episode|sale|black friday|wedding|birthday|holiday|vacation|world cup|match|tournament|concert|"
    r"festival|marathon|graduation|registration|election|halloween|thanksgiving|valentine|movie|film)(?:s|es)?"
    r"(?!\w)"
)
_THREAT = _Lazy(
    _PRE + r"(?:محتل|محتلين|محتلون|احتلال|امريكي|امريكيه|امريكان|امريكا|اميركي|اميركا|انتقام|ثار|"
    r"مقاومه|صهيوني|صهاينه|عدو|اعداء|مهله|ساعه الصفر|قواعد|سفاره|رحيل|خروج القوات|انسحاب|طرد|"
    r"استهداف|هجوم|ضربه|مجاهدين|المجاهدون|شهداء|الرد قادم|جنود)(?:\w{0,4})(?!\w)"
    r"|(?<!\w)(?:occup\w*|americans?|us forces|u\.s\. forces|vengeance|revenge|enem(?:y|ies)|zionists?|"
    r"resistance|ultimatum|withdrawal|invaders?|martyrs?|embassy|retaliation)(?!\w)"
)


# --- results -------------------------------------------------------------------------------


def _span(value: int, unit: str) -> timedelta:
    return timedelta(hours=value) if unit == "hour" else timedelta(days=value)


def _aware(date: datetime) -> datetime:
    return date if date.tzinfo else date.replace(tzinfo=UTC)


def _merged(norm: str, anchors: list[tuple[int, int]], reach: int) -> list[list[int]]:
    """The windows around the anchors: ``reach`` before each, ``_AFTER`` after, overlaps merged."""
    merged: list[list[int]] = []
    for start, end in anchors:
        lo, hi = max(0, start - reach), min(len(norm), end + _AFTER)
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = hi
        else:
            merged.append([lo, hi])
    return merged


def _windows(norm: str, anchors: list[tuple[int, int]], reaches: set[int]) -> dict[int, list[list[int]]]:
    """The windows of each of ``reaches`` worth running the patterns in (``_worth_a_look``)."""
    windows: dict[int, list[list[int]]] = {}
    # A near window that ends where a far window ends and starts no earlier: a search from later
    # in the text, to the same end, finds nothing that the far one did not, so the far window's
    # "no" is its answer too.
    hopeless: dict[int, int] = {}  # end -> start of the far windows not worth a look
    for reach in (_FAR, _NEAR):
        if reach not in reaches:
            continue
        kept = []
        for lo, hi in _merged(norm, anchors, reach):
            if hopeless.get(hi, lo + 1) <= lo:
                continue
            if _worth_a_look(norm, lo, hi):
                kept.append([lo, hi])
            elif reach == _FAR:
                hopeless[hi] = lo
        windows[reach] = kept
    return windows


def _candidates(norm: str) -> list[tuple[int, int, int, int, str, datetime | None, str]]:
    """(priority, start, end, value, unit, explicit date, kind) for every pattern hit."""
    found: list[tuple[int, int, int, int, str, datetime | None, str]] = []
    # Which patterns may match, then where the anchor words are, each in one pass of an automaton
    # (the alternation regex walked every position of every post). Overlapping anchors do not
    # matter: windows are merged.
    needed = _NEEDED_SCAN.values(norm)
    if not needed:  # most posts stop here
        return found
    needed = set().union(*needed)
    anchors = sorted((end + 1 - length, end + 1) for end, length in _ANCHOR_SCAN.iter(norm))
    if not anchors:
        return found
    windows = _windows(norm, anchors, {_REACH[k] for k in needed})
    matches = (
        (kind, m)
        for k, (kind, pattern) in enumerate(_PATTERNS)
        if k in needed
        for lo, hi in windows[_REACH[k]]
        for m in pattern.finditer(norm, lo, hi)
    )
    for kind, m in matches:  # merged windows are disjoint: no match is seen twice
        groups = m.groupdict()
        if groups.get("dual"):
            unit, value = _DUAL[groups["dual"]]
        elif groups.get("unit1"):
            unit, value = _unit_of(groups["unit1"]), 1
        elif groups.get("unitw"):
            unit = "hour" if groups["unitw"] in ("الساعات", "hours") else "day"
            value = int(groups["num"])
        else:
            number = parse_number(groups["num"] or "")
            if number is None:
                continue
            unit = _unit_of(groups["unit"]) if groups.get("unit") else "day"
            value = number
        if unit == "week":
            unit, value = "day", value * 7
        if value > 1000:
            continue
        explicit = _parse_date(groups["target"]) if groups.get("target") else None
        priority = 0 if explicit else 2 if kind == "bare" else 1
        found.append((priority, m.start(), m.end(), value, unit, explicit, kind))
    return found


def _verdict(benign: str | None, threat: str | None, bare: bool) -> tuple[bool, str]:
    """Whether a countdown alerts, and why, from the look-alike and threat words around it."""
    if bare:
        return False, "only a number: a countdown as part of a series, not on its own"
    if benign and not threat:
        return (
            False,
            f"looks like a countdown to '{benign}' (a benign look-alike); no threat or enemy term nearby",
        )
    if benign and threat:
        return True, f"mentions '{benign}', but the threat/enemy term '{threat}' is nearby"
    if threat:
        return True, f"a countdown next to the threat/enemy term '{threat}'"
    return True, "a countdown with no benign look-alike nearby"


def _first_line_countdown(text: str, date: datetime | None) -> Countdown | None:
    """The countdown of the first line of poster text that has one (``ocr.engine`` puts the
    countdown most of its readings agree on first), judged against the words of the whole poster:
    a look-alike (رمضان) or a threat on another line of the poster still counts."""
    offset = 0
    for line in text.split("\n"):
        found = find_countdown(line, date, source="ocr")
        if found is not None:
            norm = normalize(text)
            benign = found.benign or _word_of(_BENIGN.search(norm))
            threat = found.threat or _word_of(_THREAT.search(norm))
            alertable, reason = _verdict(benign, threat, False)
            return replace(
                found,
                start=found.start + offset,
                end=found.end + offset,
                benign=benign,
                threat=threat,
                alertable=alertable,
                reason=reason,
            )
        offset += len(line) + 1
    return None


def _word_of(match: re.Match[str] | None) -> str | None:
    return match.group().strip() if match else None


def find_countdown(
    text: str, date: datetime | None = None, source: str = "text", normalized: str | None = None
) -> Countdown | None:
    """The countdown in ``text`` (original, not normalised), or None.

    ``date`` is the post date: the deadline is ``date`` plus the span, or the explicit date when
    the text names one. ``normalized`` is ``normalize(text)`` when the caller already has it.
    Pure and total: any input gives a result or None, never an exception.

    Poster text (``source="ocr"``) is many readings, one per line (``ocr.engine``): a countdown
    must be read within one line (a stray number on the next line is not its value), a 0 is a
    dot more often than a deadline, and a line that is only a number is junk, not a series.
    """
    if source == "ocr" and "\n" in text:
        return _first_line_countdown(text, date)
    norm = normalize(text) if normalized is None else normalized
    if not norm:
        return None
    found = _candidates(norm)
    if source == "ocr":
        found = [c for c in found if c[3] > 0]
    bare = False
    if not found and source == "ocr":
        return None
    if not found:
        m = _BARE_ONLY.fullmatch(norm) if norm[0].isdigit() or norm[0].isspace() else None
        if not m:
            return None
        found = [(3, m.start(1), m.end(1), int(m.group(1)), "day", None, "bare")]
        bare = True
    found.sort(key=lambda c: (c[0], c[1], -(c[2] - c[1])))
    _, start, end, value, unit, explicit, _ = found[0]
    deadline = explicit
    if deadline is None and date is not None:
        deadline = _aware(date) + _span(value, unit)

    again, origins = normalize_with_offsets(text)
    exact = again == norm

    def shown(m: re.Match[str] | None) -> str | None:
        """The word as the post writes it (original letters, diacritics and all)."""
        if m is None:
            return None
        if not exact:
            return m.group().strip()
        s, e = original_span(origins, m.start(), m.end())
        return text[s:e].strip()

    benign, threat = shown(_BENIGN.search(norm)), shown(_THREAT.search(norm))
    alertable, reason = _verdict(benign, threat, bare)

    s, e = original_span(origins, start, end) if exact else (0, len(text))
    return Countdown(
        value=value,
        unit=unit,
        deadline=deadline,
        source=source,
        start=s,
        end=e,
        alertable=alertable,
        reason=reason,
        snippet=text[s:e],
        explicit_date=explicit is not None,
        benign=benign,
        threat=threat,
        bare=bare,
    )


def series_deadline(
    points: Sequence[CountdownPoint], tolerance: timedelta = timedelta(days=1)
) -> datetime | None:
    """The common deadline of a countdown series, or None.

    ``points`` are countdown posts of one channel. A series is two or more posts whose values
    fall in step with the time between them (59 days on the 2nd, 58 on the 3rd, 56 on the 5th),
    i.e. whose implied deadlines (post date + span) agree within ``tolerance`` (time of day of
    the posts). The most recent series wins; its deadline is the one implied by its latest post.
    """
    usable = sorted(
        ((_aware(p.date), p) for p in points if p.unit in ("day", "hour") and p.value >= 0),
        key=lambda dp: dp[0],
    )
    implied = [(d, p, d + _span(p.value, p.unit)) for d, p in usable]
    for i in range(len(implied) - 1, 0, -1):
        deadline = implied[i][2]
        members = [(d, p) for d, p, dl in implied[: i + 1] if abs(dl - deadline) <= tolerance]
        values = {_span(p.value, p.unit) for _, p in members}
        dates = {d for d, _ in members}
        if len(values) >= 2 and len(dates) >= 2:
            return deadline
    return None
