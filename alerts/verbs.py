"""Arabic verb families: the past, present and future forms of a verb given once.

A rule lists ``verbs = ["تكلم"]`` and matches ستتكلم، سيتكلم، تتكلم، يتكلمون، نتكلم، تكلموا،
تكلمت... The family is a handful of stems; the matcher (:mod:`alerts.matcher`) already adds the
attached prefixes (و ف, and the future س on a present form) and the person and number endings
(ون ين ان وا ت تم نا ...), so a family is:

* the past stem (تكلم: تكلمت، تكلموا، تكلمنا، تكلمتم come from the matcher's endings);
* the present stem with each person prefix: ي (he, they), ت (she, you), ن (we), ا (I), which
  the matcher turns into futures with س / سوف (ستتكلم، سنتكلم) and plurals with ون (يتكلمون).

A **sound** verb conjugates by rule on unvocalised text: forms I, II, III, V, VI and four-letter
verbs put the person prefix before the past stem (ضرب→يضرب، دمر→يدمر، قاتل→يقاتل، تكلم→يتكلم);
forms IV, VII, VIII and X drop their leading alef first (أطلق→يطلق، انسحب→ينسحب، انتقم→ينتقم،
استهدف→يستهدف). A **weak** verb (a و, ي or alef in its root: قال/يقول، رمى/يرمي، وصل/يصل) or a
doubled one (رد) changes its stem, and unvocalised spelling cannot tell how: it must be given
as ``PAST/PRESENT`` (``"قال/يقول"``), or the rules file is refused with that advice.

We write this ourselves: the Arabic morphology libraries (camel-tools, qalsadi) conjugate from
vocalised lemmas and bring large databases, for the dozen verbs a rules file names.
"""

from __future__ import annotations

from monitor.core.text import normalize

__all__ = ["VerbError", "conjugate"]

_PERSONS = ("ي", "ت", "ن", "ا")
_WEAK = frozenset("اويء")
_LETTERS = frozenset("ابتثجحخدذرزسشصضطظعغفقكلمنهوي")


class VerbError(ValueError):
    """A verb that cannot be conjugated as written (the message says what to write instead)."""


def conjugate(entry: str) -> tuple[str, ...]:
    """The forms a rule matches for the verb ``entry`` (``"تكلم"`` or ``"قال/يقول"``), normalised.

    Raises :class:`VerbError` for anything that is not one Arabic verb this module can conjugate.
    """
    parts = [normalize(p).strip() for p in entry.split("/")]
    if len(parts) > 2 or not all(parts):
        raise VerbError(f"verb {entry!r}: write one verb, or its past and present forms as PAST/PRESENT")
    for part in parts:
        if " " in part or not set(part) <= _LETTERS:
            raise VerbError(f"verb {entry!r}: a verb is one Arabic word (no spaces, digits or Latin letters)")
    if len(parts) == 2:
        past, present = parts
        if len(past) < 2 or len(present) < 3 or present[0] not in _PERSONS:
            raise VerbError(
                f"verb {entry!r}: the present form must start with its person prefix (ي ت ن ا), e.g. قال/يقول"
            )
        return _forms(past, present[1:])
    verb = parts[0]
    if len(verb) < 3:
        raise VerbError(
            f"verb {entry!r} is too short to conjugate (a doubled verb?): give it as PAST/PRESENT, e.g. رد/يرد"
        )
    if verb.startswith("ال"):
        raise VerbError(f"verb {entry!r} has the article ال: it is a noun, put it in terms")
    stem, root = _stems(verb)
    if _WEAK & set(root):
        raise VerbError(
            f"verb {entry!r} has a weak letter (و, ي or alef) in its root, so its forms change in ways "
            "unvocalised text does not show: give it as PAST/PRESENT, e.g. قال/يقول or رمى/يرمي"
        )
    return _forms(verb, stem)


def _stems(verb: str) -> tuple[str, str]:
    """The present stem (without the person prefix) and the root letters of a sound verb."""
    n = len(verb)
    if verb.startswith("است") and n == 6:  # form X: استهدف -> يستهدف
        return verb[1:], verb[3:]
    if verb[0] == "ا" and n == 5 and verb[1] == "ن":  # form VII: انسحب -> ينسحب
        return verb[1:], verb[2:]
    if verb[0] == "ا" and n == 5 and verb[2] == "ت":  # form VIII: انتقم -> ينتقم
        return verb[1:], verb[1] + verb[3:]
    if verb[0] == "ا" and n == 4:  # form IV: أطلق -> يطلق
        return verb[1:], verb[1:]
    if n == 4 and verb[1] == "ا":  # form III: قاتل -> يقاتل
        return verb, verb[0] + verb[2:]
    if n == 5 and verb[0] == "ت" and verb[2] == "ا":  # form VI: تقاتل -> يتقاتل
        return verb, verb[1] + verb[3:]
    if n == 4 and verb[0] == "ت":  # form V: تكلم -> يتكلم
        return verb, verb[1:]
    if n in (3, 4):  # forms I and II (unvocalised alike), four-letter verbs: ضرب، دمر، زلزل
        return verb, verb
    raise VerbError(f"verb {verb!r} is not a verb form this rules language knows: give it as PAST/PRESENT")


def _forms(past: str, present_stem: str) -> tuple[str, ...]:
    """The past stem, the present with each person prefix, and the future (س + present): the
    matcher adds س itself only to words of four letters or more (ستصل has a two-letter stem)."""
    presents = [person + present_stem for person in _PERSONS]
    return tuple(dict.fromkeys((past, *presents, *("س" + p for p in presents))))
