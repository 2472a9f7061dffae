"""The desk inside Telegram: buttons under every alert, and a bot that answers the analysts.

- :mod:`.access`: who may talk to it (``[bot] allowed_chats``, ``allowed_users``).
- :mod:`.commands`: ``/search`` ``/post`` ``/alerts`` ``/countdowns`` ``/stats`` ``/health``
  ``/similar`` ``/help`` over the archive; :mod:`.presses`: the alert buttons (decisions shared
  with the CLI and the web desk, mutes); :mod:`.posters`: a poster read once, its look-alikes.
- :mod:`.answers`: Telegram HTML, archive text escaped, cut at Telegram's limits.
- :mod:`.desk`: the Telegram side (routing, sends, edits, flood waits); :mod:`.runner`: where it
  runs (inside ``tgmonitor run`` on the Telegram sink's bot client, or alone: ``tgmonitor bot``).
"""
