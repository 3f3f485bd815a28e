"""A TCP AMI emulator that behaves like the Asterisk 22 in the AMI transcripts.

Used by the tests, by ``callcenter demo`` and by ``bench/screenpop.py``. It listens on a
real socket and speaks AMI exactly as the captures show it:

- banner ``Asterisk Call Manager/11.0.0``; ``Login`` checks the secret (a wrong one is
  answered ``Authentication failed`` after ``auth_failure_delay_s`` - 1 s on the real
  server - and the connection is closed, as in 3d1); ``Events: on``; ``Ping``;
  ``Logoff``; ``Permission denied`` before login; the exact ``Invalid/unknown command``
  error plus a ``RequestBadFormat`` event;
- ``QueueStatus``/``QueueSummary``/``CoreShowChannels`` answer with list events built
  from the emulator's own state (``Name``/``Location`` in QueueMember, ``ActionID`` last in
  queue items and first in CoreShowChannel, as Asterisk writes them);
- ``QueuePause``/``QueueAdd``/``QueueRemove`` change that state and emit
  ``QueueMemberPause``/``Added``/``Removed`` with the real messages and error texts;
- ``Originate`` (async and sync) ends in ``OriginateResponse`` according to the
  endpoint's configured behaviour (answer / busy / noanswer; unknown → Reason 0);
- ``Hangup`` hangs up a known channel (``Channel Hungup``) or says ``No such channel``.

It also replays recorded streams (the transcripts' ``.from_asterisk.bin``, optionally with
the ``.timed.txt`` timing), injects synthetic events with the Asterisk 22 field order
(``agent_called(interface=..., linkedid=..., caller=...)``), and simulates a restart:
``Shutdown`` event, close, connections refused for a while, then the same banner, login
accepted before ``FullyBooted`` (which comes ~0.2 s later with the post-restart field
order). Every event it sends, replayed or synthetic, also updates its state, so a
``QueueStatus`` in the middle of a replay answers what Asterisk would have answered.

``AMIEmulator`` (:mod:`.server`) lives on an asyncio loop; ``EmulatorThread``
(:mod:`.thread`) runs one in a background thread and exposes every method as a blocking
call, for tests and scripts. The other modules are its parts: :mod:`.state` (queues,
members, channels; how events change them), :mod:`.actions` (the AMI actions),
:mod:`.scenarios` (scripted calls) and :mod:`.replay` (recorded transcripts).
"""
