"""Search: Arabic folding, hashtags, digits, filters, ordering, snippets, and hostile queries."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.core.models import Channel, Post
from monitor.core.store import Archive, build_match_query, make_snippet

SABEREEN = Channel(id=1111, username="sabereen_test", title="صابرين")
PRIVATE = Channel(id=2222, username=None, title="قناة خاصة")
T0 = datetime(2021, 11, 1, 12, 0, tzinfo=UTC)

POSTS = [
    # (channel, message id, day offset, text)
    (SABEREEN, 1, 0, "الانْتِقَامُ قادم لا محالة"),
    (SABEREEN, 2, 1, "رد المقاومة: والانتقام آت"),
    (SABEREEN, 3, 2, "تابعونا #الانتقام_قادم"),
    (SABEREEN, 4, 3, "أمريكا ستدفع الثمن"),
    (SABEREEN, 5, 4, "#باقي_٥٩_يوما على الموعد"),
    (SABEREEN, 6, 5, "Follow #RevengeIsComing now"),
    (PRIVATE, 10, 6, "الانتقام الانتقام الانتقام من المحتل"),
    (PRIVATE, 11, 7, "خبر عادي عن الطقس في بغداد"),
    (PRIVATE, 12, 8, "America will pay, says the statement"),
]


def at(days: int) -> datetime:
    return T0 + timedelta(days=days)


@pytest_asyncio.fixture
async def archive(tmp_path):
    archive = await Archive.open(tmp_path / "archive.db", tmp_path / "media")
    await archive.save_posts(
        [Post(channel=c, message_id=m, date=at(d), text=t, source="import") for c, m, d, t in POSTS]
    )
    try:
        yield archive
    finally:
        await archive.close()


async def ids(archive: Archive, query: str, **kw) -> list[int]:
    return [hit.post.message_id for hit in await archive.search(query, **kw)]


# --- Arabic -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_revenge_finds_diacritics_prefixes_and_hashtags(archive):
    found = await ids(archive, "الانتقام")
    assert {1, 2, 3, 10} <= set(found)
    assert found == sorted(found, key=lambda m: [p[1] for p in POSTS].index(m), reverse=True)


@pytest.mark.parametrize("query", ["الانتقام", "الإنتقام", "الانْتِقَام", "الانتقـــام", "\u200fالانتقام"])
@pytest.mark.asyncio
async def test_every_spelling_of_the_query_finds_the_same(archive, query):
    assert set(await ids(archive, query)) == {1, 2, 3, 10}


@pytest.mark.asyncio
async def test_alef_variants(archive):
    assert await ids(archive, "امريكا") == [4]
    assert await ids(archive, "أمريكا") == [4]
    assert await ids(archive, "america") == [12]


@pytest.mark.parametrize("query", ["#الانتقام_قادم", "الانتقام_قادم", "الانتقام قادم", '"الانتقام قادم"'])
@pytest.mark.asyncio
async def test_an_arabic_hashtag_with_or_without_the_sign(archive, query):
    assert set(await ids(archive, query)) == {1, 3}


@pytest.mark.parametrize(
    "query", ["#RevengeIsComing", "RevengeIsComing", "revenge is coming", "#revenge_is_coming"]
)
@pytest.mark.asyncio
async def test_a_camel_case_hashtag_with_or_without_the_sign(archive, query):
    assert await ids(archive, query) == [6]


@pytest.mark.parametrize("query", ["59", "٥٩", "۵۹", "#باقي_٥٩_يوما", "باقي 59", "باقي59يوما"])
@pytest.mark.asyncio
async def test_eastern_digits_in_a_hashtag(archive, query):
    assert await ids(archive, query) == [5]


FOLDS = [
    # (text as posted, query as typed): each pair must meet
    ("بيان المقاومة الإسلامية", "المقاومه"),
    ("قال علي", "على"),
    ("إیران والعراق", "ايران"),
    ("ﺍﻟﺴﻼﻡ عليكم", "السلام"),
    ("مؤتمر صحفي", "موتمر"),
    ("رئيس الوزراء", "رييس"),
    ("گال القائد", "كال"),
    ("قادمـــــون", "قادمون"),
    ("قاااادمون", "قادمون"),
    ("الموعد\u200cالقادم", "الموعدالقادم"),
    ("باقي ٣ أيام", "3"),
    ("باقی ۳ روز", "باقي"),
    ("VENGEANCE", "vengeance"),
    # Emoji and marks newer than SQLite's Unicode tables, glued to words, must not hide them.
    ("الانتقام🤬قادم", "قادم"),
    ("الثأر🫡", "الثار"),
    ("رجال💪🏻المقاومة", "رجال"),
    ("النصر🩸", "النصر"),
    ("الانتقام\u08f0 آت", "الانتقام"),
    ("الجهاد﵅", "الجهاد"),
    ("الانتقام🤬قادم", '"الانتقام قادم"'),
]


@pytest.mark.asyncio
async def test_folded_letters_meet(tmp_path):
    archive = await Archive.open(tmp_path / "folds.db")
    try:
        await archive.save_posts(
            [
                Post(channel=SABEREEN, message_id=i, date=at(i), text=text)
                for i, (text, _) in enumerate(FOLDS, 1)
            ]
        )
        for i, (text, query) in enumerate(FOLDS, 1):
            assert i in await ids(archive, query), (text, query)
            assert i in await ids(archive, text), text  # the post's own text finds it
    finally:
        await archive.close()


@pytest.mark.asyncio
async def test_all_words_must_match(archive):
    assert await ids(archive, "الانتقام المحتل") == [10]
    assert await ids(archive, "الانتقام بغداد") == []


@pytest.mark.asyncio
async def test_or_phrase_and_prefix(archive):
    assert await ids(archive, "بغداد OR امريكا") == [11, 4]
    assert await ids(archive, '"ستدفع الثمن"') == [4]
    assert await ids(archive, '"الثمن ستدفع"') == []
    assert await ids(archive, "stat*") == [12]
    assert await ids(archive, "المقاوم*") == [2]


@pytest.mark.asyncio
async def test_a_long_or_list_of_names(archive):
    # An analyst pastes a list of names: FTS5's parser must not overflow on it.
    names = " OR ".join(f"name{i}" for i in range(300))
    assert await ids(archive, f"{names} OR بغداد") == [11]
    assert build_match_query("a OR b OR c d")[0] == '("a" OR "b" OR "c") AND "d"'


# --- filters and order -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_newest_first_by_default(archive):
    assert await ids(archive, "الانتقام") == [10, 3, 2, 1]


@pytest.mark.asyncio
async def test_sort_by_relevance(archive):
    found = await ids(archive, "الانتقام", sort="relevance")
    assert found[0] == 10  # the word three times in a short post
    assert set(found) == {1, 2, 3, 10}


@pytest.mark.parametrize(
    "channel", ["@sabereen_test", "sabereen_test", "https://t.me/sabereen_test", 1111, "-1001111"]
)
@pytest.mark.asyncio
async def test_channel_filter(archive, channel):
    assert await ids(archive, "الانتقام", channel=channel) == [3, 2, 1]


@pytest.mark.asyncio
async def test_channel_filter_by_title_and_unknown_channel(archive):
    assert await ids(archive, "الانتقام", channel="قناة خاصة") == [10]
    assert await ids(archive, "الانتقام", channel="@nobody") == []


@pytest.mark.asyncio
async def test_since_until_limit(archive):
    assert await ids(archive, "الانتقام", since=at(1)) == [10, 3, 2]
    assert await ids(archive, "الانتقام", until=at(1)) == [2, 1]
    assert await ids(archive, "الانتقام", since=at(1), until=at(2)) == [3, 2]
    assert await ids(archive, "الانتقام", since=at(1) + timedelta(seconds=1), until=at(2)) == [3]
    assert await ids(archive, "الانتقام", limit=2) == [10, 3]
    assert len(await ids(archive, "الانتقام", limit=2, sort="relevance")) == 2
    assert await ids(archive, "الانتقام", since=at(20)) == []


@pytest.mark.asyncio
async def test_a_naive_date_filter_is_taken_as_utc(archive):
    naive = at(1).replace(tzinfo=None)
    assert await ids(archive, "الانتقام", since=naive) == [10, 3, 2]


# --- results ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_hit_json_shape_and_links(archive):
    hits = await archive.search("الانتقام")
    rows = {h.post.message_id: h.to_json() for h in hits}
    assert list(rows[1]) == [
        "channel",
        "channel_id",
        "message_id",
        "date",
        "text",
        "ocr_text",
        "url",
        "snippet",
    ]
    assert rows[1]["channel"] == "sabereen_test"
    assert rows[1]["channel_id"] == 1111
    assert rows[1]["date"] == "2021-11-01T12:00:00+00:00"
    assert rows[1]["text"] == "الانْتِقَامُ قادم لا محالة"
    assert rows[1]["ocr_text"] is None
    assert rows[1]["url"] == "https://t.me/sabereen_test/1"
    assert rows[10]["url"] == "https://t.me/c/2222/10"
    assert rows[10]["channel"] == "قناة خاصة"


@pytest.mark.asyncio
async def test_snippets_quote_the_original_text(archive):
    (hit,) = await archive.search("امريكا")
    assert hit.snippet == "أمريكا ستدفع الثمن"
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["أمريكا"]
    (hit,) = await archive.search("الانتقام", channel=1111, until=at(0))
    assert [hit.snippet[s:e] for s, e in hit.highlights] == ["الانْتِقَامُ"]


def test_a_long_text_is_cut_around_the_match():
    text = "كلام " * 100 + "الانتقام قادم" + " كلام" * 100
    snippet, highlights = make_snippet(text, None, ["الانتقام"], width=60)
    assert snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet) <= 62
    assert [snippet[s:e] for s, e in highlights] == ["الانتقام"]


def test_a_snippet_from_the_poster_text():
    snippet, highlights = make_snippet("صورة", "بيان\nالانتقام قادم", ["الانتقام"])
    assert snippet.startswith("[poster] ")
    assert "\n" not in snippet
    assert [snippet[s:e] for s, e in highlights] == ["الانتقام"]


def test_no_term_in_the_text_gives_its_beginning():
    assert make_snippet("a" * 10, None, ["zzz"], width=5) == ("aaaaa…", [])
    assert make_snippet("", None, ["x"]) == ("", [])


# --- hostile queries ---------------------------------------------------------------------------


HOSTILE = [
    "",
    " ",
    '"',
    '""',
    '"unbalanced',
    "AND OR (",
    "OR",
    "OR الانتقام",
    "الانتقام OR",
    "NOT",
    "NOT الانتقام",
    "*",
    "**",
    "الانتقام*",
    "*الانتقام",
    "NEAR(",
    "NEAR(a b, 3)",
    "body:الانتقام",
    "extra : x",
    "col:",
    "{body extra}: x",
    "^الانتقام",
    "a + b - c",
    "\x00",
    "الانتقام\x00قادم",
    "\x1b[31m",
    "\u202e\u2066",
    "'; DROP TABLE posts; --",
    "(((",
    ")",
    "a" * 5000,
    "a OR " * 300 + "b",
    "x " * 500,
    "#",
    "_",
    "___",
    "٫٬",
    "\ud83d\ude00",
]


@pytest.mark.parametrize("query", HOSTILE)
@pytest.mark.asyncio
async def test_hostile_queries_never_raise(archive, query):
    hits = await archive.search(query)
    assert isinstance(hits, list)
    match, _ = build_match_query(query)
    assert "\x00" not in match


@pytest.mark.asyncio
async def test_fts_syntax_is_taken_as_text(archive):
    assert await ids(archive, "body:الانتقام") == []  # the words "body" and "الانتقام", side by side
    assert await ids(archive, "") == []
    assert await ids(archive, "*") == []
    assert await ids(archive, "AND OR (") == []


@pytest.mark.asyncio
async def test_search_survives_a_post_with_hostile_text(tmp_path):
    archive = await Archive.open(tmp_path / "a.db")
    try:
        nasty = 'NEAR( "body:" * OR AND \x00 \u202e الانتقام'
        await archive.save_post(Post(channel=SABEREEN, message_id=1, date=T0, text=nasty))
        (hit,) = await archive.search("الانتقام")
        assert hit.post.text == nasty
    finally:
        await archive.close()


_QUERY_ALPHABET = st.sampled_from(
    [*list("\"*()^:+-{}[],.;'\\/#_ "), "OR", "AND", "NOT", "NEAR", "body", "extra", "\x00", "\x1b", "\u200f"]
) | st.sampled_from(list("الانتقامقادمأإآةىيـًٌٍَُِّْ٠٥٩abcXYZ"))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(query=st.one_of(st.text(max_size=60), st.lists(_QUERY_ALPHABET, max_size=25).map(" ".join)))
@example(query='" OR "')
@example(query="NEAR(الانتقام, 2)")
@example(query="OR OR OR")
def test_any_query_is_valid(seeded_runner, query):
    runner, archive = seeded_runner
    hits = runner.run(archive.search(query))
    assert isinstance(hits, list)
    hits = runner.run(archive.search(query, sort="relevance", channel="sabereen_test", since=T0, limit=3))
    assert len(hits) <= 3


@pytest.fixture
def seeded_runner(tmp_path):
    """One event loop and one archive for every hypothesis example (opening one per example is slow)."""
    with asyncio.Runner() as runner:
        archive = runner.run(Archive.open(tmp_path / "prop.db"))
        runner.run(
            archive.save_posts([Post(channel=c, message_id=m, date=at(d), text=t) for c, m, d, t in POSTS])
        )
        try:
            yield runner, archive
        finally:
            runner.run(archive.close())


_SNIPPET_TEXT = st.text(
    st.sampled_from([*"الانتقامقادمأإآةىيـًٌَُّ٠٥٩#_ \n", "\u200f", "a", "B", "ﻻ", "ﷲ"]), max_size=80
)


@settings(max_examples=200, deadline=None)
@given(text=_SNIPPET_TEXT, ocr=st.none() | _SNIPPET_TEXT, query=_SNIPPET_TEXT, width=st.integers(10, 200))
def test_snippet_highlights_stay_inside_the_snippet(text, ocr, query, width):
    _, terms = build_match_query(query)
    snippet, highlights = make_snippet(text, ocr, terms, width=width)
    assert "\n" not in snippet
    for start, end in highlights:
        assert 0 <= start < end <= len(snippet)


@pytest.fixture(scope="module")
def bare_fts():
    """A bare FTS5 table shaped like the archive's, to check queries without the archive's catch-all."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE f USING fts5(body, extra, tokenize = 'unicode61 remove_diacritics 2')")
    conn.execute("INSERT INTO f VALUES ('الانتقام قادم revenge is coming', 'انتقام')")
    yield conn
    conn.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.one_of(st.text(max_size=80), st.lists(_QUERY_ALPHABET, max_size=40).map(" ".join)))
@example(query=" OR ".join(["x"] * 500))
@example(query='"a b" OR c* OR #RevengeIsComing OR RevengeIsComing')
def test_every_built_query_is_valid_fts5(bare_fts, query):
    # archive.search() swallows OperationalError (and finds nothing); the query itself must never need it.
    match, _ = build_match_query(query)
    if match:
        bare_fts.execute("SELECT rowid FROM f WHERE f MATCH ?", (match,)).fetchall()


@pytest.fixture
def empty_runner(tmp_path):
    with asyncio.Runner() as runner:
        archive = runner.run(Archive.open(tmp_path / "words.db"))
        try:
            yield runner, archive
        finally:
            runner.run(archive.close())


_POST_TEXT = st.one_of(
    st.text(min_size=1, max_size=60),
    st.lists(
        st.sampled_from(
            [
                "الانْتِقَامُ",
                "والانتقام",
                "#الانتقام_قادم",
                "أمريكا",
                "٥٩",
                "#RevengeIsComing",
                "قادممم",
                "ﻻ",
                "x٣y",
            ]
        ),
        min_size=1,
        max_size=6,
    ).map(" ".join),
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=_POST_TEXT, data=st.data())
def test_every_word_of_a_post_finds_it(empty_runner, text, data):
    # Indexing and querying fold text the same way: any word of a post, as normalised, finds it.
    from monitor.core.text import normalize, words

    runner, archive = empty_runner
    tokens = words(normalize(text))
    if not tokens:
        return
    message_id = data.draw(st.integers(1, 10**9))
    runner.run(archive.save_post(Post(channel=SABEREEN, message_id=message_id, date=T0, text=text)))
    word = data.draw(st.sampled_from(tokens))
    found = runner.run(archive.search(word, limit=10000))
    assert message_id in [h.post.message_id for h in found], (text, word)
