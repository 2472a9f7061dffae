"""Hostile searches and a hostile post (issue 20, item 18): bounded queries, a time budget, a 10 MB post.

Through the CLI where the analyst meets them: a query with no bound on its cost is refused in one
line (exit non-zero), a search over its time budget is stopped in one line, and a 10 MB post is
imported and found with a snippet of the usual size around the hit.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.corpus import post_text
from monitor.cli import main
from monitor.core.models import Channel, Post
from monitor.core.store import Archive, QueryError
from monitor.core.store.search import (
    MAX_PREFIX_TERMS,
    MAX_QUERY_CHARS,
    MAX_QUERY_WORDS,
    SNIPPET_SCAN,
    make_snippet,
    parse_query,
)
from tests.support.export import message, write_single

CHANNEL = Channel(id=4242, username="hostile_test", title="قناة")
T0 = datetime(2021, 11, 1, tzinfo=UTC)


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


def one_line_error(result, *fragments: str) -> str:
    """The CLI refused with exactly one ``error:`` line naming ``fragments``, no traceback."""
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr and "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def corpus_db(tmp_path_factory) -> Path:
    """An archive of 3,000 generated posts, Arabic and English (the bench's corpus)."""
    db = tmp_path_factory.mktemp("hostile-search") / "archive.db"
    rng = random.Random(20)
    posts = [
        Post(
            channel=CHANNEL,
            message_id=i + 1,
            date=T0 + timedelta(minutes=i),
            text=post_text(rng),
            source="import",
        )
        for i in range(3000)
    ]

    async def build() -> None:
        async with await Archive.open(db) as archive:
            await archive.save_posts(posts)

    asyncio.run(build())
    return db


@pytest.fixture
def env(no_user_config):
    return no_user_config


# --- bounded queries --------------------------------------------------------------------------


def test_two_hundred_prefix_terms_are_refused_through_the_cli(env, corpus_db):
    query = " ".join(f"ال{chr(0x0628 + i % 20)}{chr(0x0628 + i // 20)}*" for i in range(200))
    assert len(parse_query(query).prefixes) == 200
    line = one_line_error(
        run("--db", corpus_db, "search", query), "200 prefix terms", f"at most {MAX_PREFIX_TERMS}"
    )
    assert "word*" in line


def test_too_many_words_a_long_phrase_and_a_long_query_are_refused(env, corpus_db):
    words = [f"كلمة{chr(0x0628 + i % 20)}{chr(0x0628 + i // 20)}" for i in range(MAX_QUERY_WORDS + 1)]
    one_line_error(run("--db", corpus_db, "search", *words), f"{MAX_QUERY_WORDS + 1} words")
    phrase = '"' + " ".join(["يا"] * 2500) + '"'
    one_line_error(run("--db", corpus_db, "search", phrase), "2500 words")
    one_line_error(run("--db", corpus_db, "search", "ا" * (MAX_QUERY_CHARS + 1)), "characters long")


def test_a_repeated_prefix_counts_once_and_still_finds_posts(env, corpus_db):
    # 200 x ال* is one prefix term: the same posts as one ال*, not 200 merges of the index.
    parsed = parse_query(" ".join(["ال*"] * 200))
    assert parsed.match == '"ال"*' and parsed.prefixes == ["ال"]
    result = run("--db", corpus_db, "search", "--json", *(["ال*"] * 200))
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.output)) == 20


def test_a_one_letter_prefix_is_read_as_the_letter(env):
    assert parse_query("ا*").prefixes == [] and parse_query("ا*").match == '"ا"'
    assert parse_query("الا*").prefixes == ["الا"]


@pytest.mark.asyncio
async def test_refusals_are_query_errors_of_the_archive(corpus_db):
    async with await Archive.open(corpus_db) as archive:
        with pytest.raises(QueryError, match="prefix terms"):
            await archive.search(" ".join(f"زن{chr(0x0628 + i)}*" for i in range(MAX_PREFIX_TERMS + 1)))
        assert (
            len(await archive.search(" ".join(f"زن{chr(0x0628 + i)}*" for i in range(MAX_PREFIX_TERMS)))) == 0
        )


# --- time budget ------------------------------------------------------------------------------


def test_a_search_over_its_time_budget_stops_with_the_message(env, corpus_db):
    result = run("--db", corpus_db, "search", "--timeout", "0.000001", "--limit", "10000", "ال*")
    one_line_error(
        result, "the search took longer than 1e-06 s: narrow it", "prefix terms", "a channel, dates"
    )
    # The same search with the default budget answers (the budget was the only reason it stopped).
    result = run("--db", corpus_db, "search", "--json", "--limit", "10000", "ال*")
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.output)) > 100


@pytest.mark.asyncio
async def test_the_budget_is_a_parameter_of_the_archive_and_is_lifted_after(corpus_db):
    async with await Archive.open(corpus_db) as archive:
        with pytest.raises(QueryError, match="took longer than"):
            await archive.search("iraq", limit=10000, time_budget=1e-9)
        # The progress handler is gone: the next statement on the connection runs to its end.
        assert len(await archive.search("iraq", limit=10000, time_budget=None)) > 100
        assert await archive.fetchone("SELECT count(*) FROM posts") is not None


@pytest.mark.asyncio
async def test_a_search_over_its_budget_stops_only_itself_not_what_runs_beside_it(corpus_db):
    """The desk answers many requests on one connection: a search stopped by its budget must not
    interrupt another request's statement (that was a 500 for someone else's page)."""
    async with await Archive.open(corpus_db) as archive:

        async def over_budget() -> str:
            try:
                await archive.search("iraq", limit=10000, time_budget=1e-9)
            except QueryError:
                return "stopped"
            return "answered"

        async def beside() -> int:
            row = await archive.fetchone("SELECT count(*) FROM posts WHERE text LIKE '%ال%'")
            return int(row[0])

        for _ in range(5):
            results = await asyncio.gather(
                over_budget(), *(beside() for _ in range(8)), return_exceptions=True
            )
            assert results[0] == "stopped"
            failures = [r for r in results[1:] if isinstance(r, BaseException)]
            assert not failures, failures
            assert len(set(results[1:])) == 1 and results[1] > 0


# --- a 10 MB post -----------------------------------------------------------------------------


def ten_megabytes(rng: random.Random) -> str:
    parts, size = [], 0
    while size < 10_000_000:
        part = post_text(rng)
        parts.append(part)
        size += len(part.encode()) + 1
    return "\n".join(parts)


def test_a_ten_megabyte_post_is_imported_and_found_with_a_short_snippet(env):
    body = ten_megabytes(random.Random(18))
    text = "أول سطر\n" + body + "\nوفي الختام الانْتِقَامُ قادم يا زنجبيلستان"
    assert len(text.encode()) > 10_000_000
    export = write_single(env / "export", [message(1, text), message(2, "منشور عادي عن زنجبيلستان")])
    db = env / "archive.db"
    result = run("--db", db, "import", export, "--no-ocr", "--json")
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert json.loads(result.output)["posts_new"] == 2

    found = run("--db", db, "search", "--json", "زنجبيلستان")
    assert found.exit_code == 0, found.stderr
    hits = {row["message_id"]: row for row in json.loads(found.output)}
    assert set(hits) == {1, 2}
    snippet = hits[1]["snippet"]
    assert len(snippet) <= 160 + 2  # the window and its two ellipses, not the post
    assert snippet.startswith("…") and snippet.endswith("زنجبيلستان")
    assert "الانْتِقَامُ قادم" in snippet  # the original text (diacritics kept), cut around the hit
    assert len(hits[1]["text"]) == len(text)  # the whole post is still there

    table = run("--db", db, "search", "زنجبيلستان")
    assert table.exit_code == 0 and "زنجبيلستان" in table.output


def test_a_long_post_snippet_highlights_the_hit_far_into_it():
    # Far past the piece a short post is read in, with the term's letters in variant spellings.
    filler = ("كلام عادي جدا " * (3 * SNIPPET_SCAN // 14))[: 3 * SNIPPET_SCAN]
    text = filler + " تَوعدوا بالإنتقام القادم " + filler
    snippet, highlights = make_snippet(text, None, parse_query("الانتقام").terms)
    assert len(snippet) <= 162
    (start, end), *_ = highlights
    assert snippet[start:end] == "بالإنتقام"
    # No hit anywhere: the post's start, cut to the snippet width.
    snippet, highlights = make_snippet(text, None, ["غيرموجود"])
    assert highlights == [] and snippet == text[:160] + "…"
