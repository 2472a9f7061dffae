"""systemd's notify protocol: ``READY=1``, ``WATCHDOG=1``, ``STOPPING=1`` as one datagram each.

The protocol is one ``AF_UNIX`` datagram to ``$NOTIFY_SOCKET`` (``@`` starts an abstract name),
documented in sd_notify(3); a few lines here instead of a dependency (the ``sdnotify`` package
does exactly this). Without ``NOTIFY_SOCKET`` (not under systemd) nothing happens.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(state: str) -> bool:
    """Send one state line to systemd; False when not under systemd or the socket is gone."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.debug("sd_notify %s failed: %s", state, exc)
        return False
    return True
