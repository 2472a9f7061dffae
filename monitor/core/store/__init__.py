"""The store: the only code in tgmonitor that holds SQL (see ``docs/architecture.md``)."""

from monitor.core.store.archive import (
    ID_SLOTS,
    INDEX_VERSION,
    MIGRATIONS,
    Archive,
    MediaRecord,
    PostRecord,
    SaveResult,
    SearchHit,
    build_match_query,
    make_snippet,
)
from monitor.core.store.common import Tx

__all__ = [
    "ID_SLOTS",
    "INDEX_VERSION",
    "MIGRATIONS",
    "Archive",
    "MediaRecord",
    "PostRecord",
    "SaveResult",
    "SearchHit",
    "Tx",
    "build_match_query",
    "make_snippet",
]
