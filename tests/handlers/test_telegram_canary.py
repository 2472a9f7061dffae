"""Canary: the private Telethon names our fake sender and handlers rely on.

Telethon is pinned (``telethon==1.45.*``). If an upgrade moves any of these, this test fails
first and says which, instead of the integration tests failing in confusing ways.
"""

from __future__ import annotations

import inspect

import telethon
from telethon import TelegramClient, events
from telethon.network.mtprotosender import MTProtoSender
from telethon.sessions import StringSession
from telethon.tl.alltlobjects import LAYER

from tests.support.fake_telegram import API_HASH, API_ID


def test_pinned_version():
    assert telethon.__version__.startswith("1.45."), telethon.__version__
    assert LAYER >= 229


def test_client_private_names_used_by_the_fake_sender():
    client = TelegramClient(StringSession(), API_ID, API_HASH)
    assert isinstance(client._sender, MTProtoSender)  # replaced before connect()
    assert client._updates_queue is client._sender._updates_queue  # where pushed updates go
    assert hasattr(client, "_mb_entity_cache") and hasattr(client, "_message_box")
    connect_src = inspect.getsource(type(client).connect)
    assert "self._sender.connect(" in connect_src and "self._sender.send(" in connect_src
    call_src = inspect.getsource(type(client)._call)
    assert "sender.send(request, ordered=ordered)" in call_src
    assert "_flood_waited_requests" in call_src and "flood_sleep_threshold" in call_src


def test_sender_interface_the_fake_mimics():
    for name in ("connect", "disconnect", "send", "is_connected", "_transport_connected", "_keepalive_ping"):
        assert callable(getattr(MTProtoSender, name)), name
    assert isinstance(MTProtoSender.disconnected, property)
    assert hasattr(MTProtoSender, "_store_own_updates")  # fake copies its "process, do not dispatch"
    assert "_self_outgoing = True" in inspect.getsource(MTProtoSender._store_own_updates)
    from telethon._updates import messagebox

    assert "getattr(updates, '_self_outgoing', False)" in inspect.getsource(
        messagebox.MessageBox.process_updates
    )
    init = inspect.signature(MTProtoSender.__init__).parameters
    assert "updates_queue" in init and "auth_key" in init


def test_event_attributes_our_handlers_read():
    assert "original_update" in inspect.getsource(events.common.EventCommon.__init__)
    assert hasattr(events.MessageDeleted.Event, "__init__")
    src = inspect.getsource(events.MessageDeleted.Event.__init__)
    assert "deleted_ids" in src
