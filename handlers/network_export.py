"""``tgmonitor export network``: who forwards and who mentions whom, for Gephi and networkx.

Channels are nodes; a **forward** edge goes from the channel a post was forwarded from to the
channel that forwarded it, a **mention** edge from the channel that wrote ``@name`` or a
``t.me/name`` link to the channel named. Each (source, target, kind) is one edge with its
``weight`` (how many posts) and ``first_date``/``last_date`` (ISO 8601 UTC). Written by networkx
(its GEXF 1.2 and GraphML writers are what Gephi and networkx read), as a directed multigraph
keyed by the kind, so a forward and a mention between the same two channels stay two edges.

Node ids: a channel's bare id (``"1111"``) when the archive knows it, ``"@name"`` for a channel
only mentioned by a name the archive does not hold.
"""

from __future__ import annotations

import re
from typing import IO, Any

import networkx as nx

from monitor.core.store import Archive, PostRecord
from monitor.core.store.evidence import Selection
from monitor.core.times import iso

MENTION = re.compile(r"(?:(?<![\w@])@|\bt(?:elegram)?\.me/)([A-Za-z][A-Za-z0-9_]{3,31})\b")
"""``@name`` or a ``t.me/name`` link: Telegram usernames are 5-32 characters, Latin letters, digits
and ``_``, starting with a letter (``t.me/c/...``, ``t.me/joinchat``, ``t.me/s/`` are not names)."""

_NOT_NAMES = frozenset({"joinchat", "addstickers", "share", "proxy", "socks", "iv", "addlist", "boost"})


def mentions(text: str) -> list[str]:
    """The usernames a text names, lower-cased, once each."""
    found = (m.group(1).lower() for m in MENTION.finditer(text or ""))
    return list(dict.fromkeys(n for n in found if n not in _NOT_NAMES and len(n) >= 5))


async def build_network(archive: Archive, selection: Selection) -> nx.MultiDiGraph:
    """The graph of the selected posts' forwards and mentions."""
    graph = nx.MultiDiGraph()
    by_name: dict[str, str] = {}
    for row in await archive.channels():
        node = str(row["id"])
        graph.add_node(
            node,
            label=row["title"] or row["username"] or node,
            username=row["username"] or "",
            archived=True,
            posts=0,
        )
        if row["username"]:
            by_name[row["username"].lower()] = node
    async for page in archive.evidence.posts(selection):
        for post in page:
            _add_post(graph, by_name, post)
    return graph


def _add_post(graph: nx.MultiDiGraph, by_name: dict[str, str], post: PostRecord) -> None:
    node = str(post.channel_id)
    if node not in graph:
        graph.add_node(
            node,
            label=post.channel_title or node,
            username=post.channel_username or "",
            archived=True,
            posts=0,
        )
    graph.nodes[node]["posts"] += 1
    date = iso(post.date) or ""
    if post.fwd_from_id is not None and post.fwd_from_id != post.channel_id:
        source = str(post.fwd_from_id)
        if source not in graph:
            graph.add_node(source, label=post.fwd_from_name or source, username="", archived=False, posts=0)
        _count(graph, source, node, "forward", date)
    for name in mentions(f"{post.text}\n{post.ocr_text or ''}"):
        target = by_name.get(name, f"@{name}")
        if target == node:
            continue
        if target not in graph:
            graph.add_node(target, label=f"@{name}", username=name, archived=False, posts=0)
        _count(graph, node, target, "mention", date)


def _count(graph: nx.MultiDiGraph, source: str, target: str, kind: str, date: str) -> None:
    if graph.has_edge(source, target, key=kind):
        data = graph.edges[source, target, kind]
        data["weight"] += 1
        data["first_date"] = min(data["first_date"], date)
        data["last_date"] = max(data["last_date"], date)
    else:
        graph.add_edge(source, target, key=kind, kind=kind, weight=1, first_date=date, last_date=date)


def write_network(graph: nx.MultiDiGraph, out: IO[bytes], fmt: str) -> None:
    """Write ``graph`` as ``gexf`` or ``graphml`` (UTF-8 XML: networkx escapes every value)."""
    if fmt == "gexf":
        nx.write_gexf(graph, out, encoding="utf-8", prettyprint=True)
    elif fmt == "graphml":
        nx.write_graphml(graph, out, encoding="utf-8", prettyprint=True)
    else:
        raise ValueError(f"unknown network format {fmt!r}")


def summary(graph: nx.MultiDiGraph) -> dict[str, Any]:
    return {"nodes": graph.number_of_nodes(), "edges": graph.number_of_edges()}
