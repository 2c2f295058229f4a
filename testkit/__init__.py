"""The kit tests and benchmarks share (not shipped: outside setuptools' package list).

Real parts, started and stopped by the caller: ``redis_server`` (a throw-away
redis-server), ``postgres`` (a throw-away PostgreSQL cluster), ``stack`` (a whole hotline:
redis-server, Asterisk in its chroot, the core, SIPp phones), ``sipp`` (SIPp callers and
phones), ``fake_asterisk`` (a FastAGI peer that plays Asterisk), ``agi_load`` (a FastAGI load
generator), audio helpers (``audio``, ``speech_audio``, ``rtp_pcap``). Every process the kit
or its users start is ended with :func:`testkit.processes.stop`.

pytest imports it from the repository root (``pythonpath = ["."]``); ``bench/`` scripts put
the root on ``sys.path`` or run as ``python -m bench.<name>``.
"""
