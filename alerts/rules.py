"""Threat rules: load and check a TOML rules file into a :class:`RuleSet`.

The format is the contract in ``shared/DESIGN.md``::

    [[rule]]
    name = "revenge"            # unique
    severity = "high"           # high | medium | low
    category = "threat"
    terms = ["الانتقام قادم", "vengeance is coming"]
    regex = []                  # optional, matched against normalised text

Two optional keys express the false-positive notes of the lexicon:

* ``with_any``: the rule only matches when one of these terms is also in the post (text or OCR),
  e.g. a bare ``مسيرة`` (march *or* drone) only together with an attack or target word;
* ``without_any``: the rule does not match when one of these terms is in the post, e.g.
  ``الانتقام قادم`` in a film promo.

Two more say a threat in its many forms once (issue 17):

* ``verbs``: Arabic verbs, each given once (``"تكلم"``, or ``"قال/يقول"`` for a weak verb), that
  match in their past, present and future forms, every person and number (:mod:`alerts.verbs`);
* ``near`` with ``within``: two or three groups of terms, one of each within ``within`` words of
  each other in either order (at most that many other words among them), e.g.
  ``near = [["السلاح", "الصواريخ"], ["verb:تكلم", "سيقول كلمته"]]``, ``within = 4``. A group item
  ``verb:X`` stands for the verb family of X. ``within`` is 1 to 50.

A file that does not parse, an unknown key, an unknown severity, an empty term, a regex that does
not compile or may take exponential time (:mod:`alerts.regex_safety`), a verb that does not
conjugate, a proximity outside 1..50 or a duplicate name raises one :class:`RulesError` naming the file, the rule and the
problem. Loading is all or nothing, so a daemon that reloads keeps its previous rules on error.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from alerts.regex_safety import catastrophic
from alerts.signatures import SignatureOverride, parse_signature
from alerts.verbs import VerbError, conjugate
from monitor.core.detection import SEVERITIES
from monitor.core.errors import RulesError
from monitor.core.text import normalize

__all__ = [
    "Rule",
    "RuleSet",
    "default_rules_text",
    "load_rules",
    "parse_rules",
]

_KEYS = {
    "name",
    "severity",
    "category",
    "terms",
    "regex",
    "with_any",
    "without_any",
    "note",
    "verbs",
    "near",
    "within",
}
NEAR_MAX = 50
"""The widest proximity a rule may ask for: beyond it two words are not 'near' in a post."""
NEAR_GROUPS = (2, 3)
_VERB_ITEM = "verb:"
DEFAULT_RULES = "default_rules.toml"
_WORD_SPLIT = re.compile(r"[\s_#]+")


@dataclass(frozen=True)
class Rule:
    """One rule: terms (whole words or phrases) and optional regexes on normalised text."""

    name: str
    severity: str
    category: str
    terms: tuple[str, ...] = ()
    regex: tuple[re.Pattern[str], ...] = ()
    with_any: tuple[str, ...] = ()
    without_any: tuple[str, ...] = ()
    note: str = ""
    verbs: tuple[str, ...] = ()  # as written; their forms are in ``terms``
    near: tuple[tuple[str, ...], ...] = ()  # groups of terms (verb families expanded)
    within: int = 0


@dataclass(frozen=True)
class RuleSet:
    """All rules of one file, in file order."""

    rules: tuple[Rule, ...]
    source: str = "<rules>"
    signatures: tuple[SignatureOverride, ...] = ()  # [[signature]] tables: per-channel overrides
    by_name: dict[str, Rule] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_name.update({rule.name: rule for rule in self.rules})

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def term_count(self) -> int:
        return sum(len(rule.terms) + sum(len(g) for g in rule.near) for rule in self.rules)

    @property
    def vocabulary(self) -> tuple[str, ...]:
        """Every word the rules spell (their terms, verb forms, ``near`` groups and the
        ``with_any``/``without_any`` context), split at spaces and hashtag underscores, sorted
        and distinct: the words of these channels, which the OCR takes as spelt words beside
        Tesseract's dictionary when it puts back the dots the passes lost (``ocr.dots``)."""
        phrases = [
            phrase
            for rule in self.rules
            for phrase in (*rule.terms, *rule.with_any, *rule.without_any, *(t for g in rule.near for t in g))
        ]
        return tuple(sorted({word for phrase in phrases for word in _WORD_SPLIT.split(phrase) if word}))


def default_rules_text() -> str:
    """The shipped default rules (package data)."""
    return resources.files("alerts").joinpath(DEFAULT_RULES).read_text(encoding="utf-8")


def load_rules(path: Path | str | None = None) -> RuleSet:
    """Read the rules file at ``path``, or the shipped default rules when ``path`` is None."""
    if path is None:
        return parse_rules(default_rules_text(), source=f"default rules ({DEFAULT_RULES})")
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesError(f"rules file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"rules file {path} cannot be read ({exc})") from None
    return parse_rules(text, source=str(path))


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Check and build a :class:`RuleSet` from the TOML ``text`` of a rules file."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"rule", "signature"})
    if unknown:
        raise RulesError(
            f"{source}: unknown top-level key '{unknown[0]}' (rules are [[rule]] tables, overrides [[signature]])"
        )
    signature_tables = data.get("signature", [])
    if not isinstance(signature_tables, list):
        raise RulesError(f"{source}: 'signature' must be an array of tables, written [[signature]]")
    signatures = tuple(parse_signature(t, n, source) for n, t in enumerate(signature_tables, start=1))
    tables = data.get("rule", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise RulesError(f"{source}: 'rule' must be an array of tables, written [[rule]]")
    if not tables:
        raise RulesError(f"{source}: no rules (add at least one [[rule]] table)")
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for number, table in enumerate(tables, start=1):
        rule = _parse_rule(table, number, source)
        if rule.name in seen:
            raise RulesError(
                f"{source}: rule '{rule.name}' (#{number}): duplicate name, also used by rule #{seen[rule.name]}"
            )
        seen[rule.name] = number
        rules.append(rule)
    return RuleSet(tuple(rules), source=source, signatures=signatures)


def _parse_rule(table: dict[str, Any], number: int, source: str) -> Rule:
    name = table.get("name")
    label = f"rule '{name}' (#{number})" if isinstance(name, str) and name.strip() else f"rule #{number}"

    def fail(problem: str) -> RulesError:
        return RulesError(f"{source}: {label}: {problem}")

    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise fail(f"unknown key '{unknown[0]}' (known keys: {', '.join(sorted(_KEYS))})")
    if not isinstance(name, str) or not name.strip():
        raise fail("'name' is missing or empty")
    severity = table.get("severity")
    if severity not in SEVERITIES:
        raise fail(f"unknown severity {severity!r} (use high, medium or low)")
    category = table.get("category", "threat")
    if not isinstance(category, str) or not category.strip():
        raise fail("'category' must be a non-empty string")
    note = table.get("note", "")
    if not isinstance(note, str):
        raise fail("'note' must be a string")
    terms = _terms(table, "terms", fail)
    with_any = _terms(table, "with_any", fail)
    without_any = _terms(table, "without_any", fail)
    verbs = _strings(table, "verbs", fail)
    for i, verb in enumerate(verbs, start=1):
        terms += [form for form in _verb_forms(verb, f"verbs {i}", fail) if form not in terms]
    near, within = _near(table, fail)
    patterns = _strings(table, "regex", fail)
    compiled = []
    for i, pattern in enumerate(patterns, start=1):
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise fail(f"regex {i} {pattern!r} does not compile ({exc})") from None
        if regex.search("") is not None:
            raise fail(f"regex {i} {pattern!r} matches the empty string")
        danger = catastrophic(pattern)
        if danger:
            raise fail(f"regex {i} {pattern!r} is refused: {danger}; rewrite it without nesting, or use near")
        compiled.append(regex)
    if not terms and not compiled and not near:
        raise fail("has no terms and no regex (nor verbs, nor near)")
    return Rule(
        name=name.strip(),
        severity=severity,
        category=category.strip(),
        terms=tuple(terms),
        regex=tuple(compiled),
        with_any=tuple(with_any),
        without_any=tuple(without_any),
        note=note,
        verbs=tuple(verbs),
        near=near,
        within=within,
    )


def _verb_forms(verb: str, where: str, fail: Any) -> tuple[str, ...]:
    try:
        return conjugate(verb)
    except VerbError as exc:
        raise fail(f"{where}: {exc}") from None


def _near(table: dict[str, Any], fail: Any) -> tuple[tuple[tuple[str, ...], ...], int]:
    """The ``near`` groups (verb families expanded) and the ``within`` distance, checked."""
    if "near" not in table:
        if "within" in table:
            raise fail("'within' needs 'near' (the groups of terms that must be within that many words)")
        return (), 0
    groups = table["near"]
    if not isinstance(groups, list) or not all(isinstance(g, list | str) for g in groups):
        raise fail('\'near\' must be a list of groups of terms, e.g. [["السلاح"], ["verb:تكلم"]]')
    if len(groups) not in NEAR_GROUPS:
        raise fail(f"'near' has {len(groups)} groups: give 2 or 3 groups of terms")
    within = table.get("within", 5)
    if isinstance(within, bool) or not isinstance(within, int) or not 1 <= within <= NEAR_MAX:
        raise fail(f"'within' is {within!r}: give a number of words from 1 to {NEAR_MAX}")
    out = []
    for g, group in enumerate(groups, start=1):
        items = _terms({"near": group}, "near", lambda problem, g=g: fail(f"near group {g}: {problem}"))
        expanded: list[str] = []
        for i, item in enumerate(items, start=1):
            if item.startswith(_VERB_ITEM):
                forms = _verb_forms(item[len(_VERB_ITEM) :], f"near group {g} item {i}", fail)
            else:
                forms = (item,)
            expanded += [f for f in forms if f not in expanded]
        if not expanded:
            raise fail(f"near group {g} is empty")
        out.append(tuple(expanded))
    return tuple(out), within


def _strings(table: dict[str, Any], key: str, fail: Any) -> list[str]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(f"'{key}' must be a list of strings")
    return value


def _terms(table: dict[str, Any], key: str, fail: Any) -> list[str]:
    terms = _strings(table, key, fail)
    for i, term in enumerate(terms, start=1):
        if not term.strip():
            raise fail(f"{key} {i} is empty")
        if not re.search(r"\w", normalize(term)):
            raise fail(f"{key} {i} {term!r} has no letters or digits after normalisation")
    return terms
