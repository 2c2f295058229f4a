"""Speech recognition (语音识别): batch transcripts, live transcripts, keyword alerts.

What the core process may import is light: :mod:`speech.interface` (live transcript streams
as protocols), :mod:`speech.jobs` (the Redis job queue), :mod:`speech.keywords`,
:mod:`speech.settings`. The recogniser (Vosk, :mod:`speech.vosk_backend` through
:mod:`speech.runtime`) is imported only inside the speech processes — batch workers and
live-stream hosts — so a hotline with speech off never loads it
(``tests/speech/test_lazy_import.py``).
"""
