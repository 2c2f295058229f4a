from __future__ import annotations

from pathlib import Path

from hotline_core.db import Base, make_engine, make_sessionmaker
from hotline_core.transcripts import DONE, FAILED, save_transcript, search_transcripts


def test_search_ignores_spaces_and_skips_failed(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as s:
        save_transcript(s, call_id="c1", leg="caller", audio_path="/r/c1-in.wav", status=DONE,
                        attempts=1, text="我 要 投诉 噪音 100%")
        save_transcript(s, call_id="c2", leg="caller", audio_path="/r/c2-in.wav", status=FAILED,
                        attempts=3, error="boom")
        save_transcript(s, call_id="c3", leg="agent", audio_path="/r/c3-out.wav", status=DONE,
                        attempts=1, text="你好 请讲")
    with sessions() as s:
        assert [t.call_id for t in search_transcripts(s, "我要投诉")] == ["c1"]
        assert [t.call_id for t in search_transcripts(s, "100%")] == ["c1"]
        assert [t.call_id for t in search_transcripts(s, "%")] == ["c1"]  # literal, not a wildcard
        assert search_transcripts(s, "你_") == []
        assert search_transcripts(s, "  ") == []
        # saving the same leg twice replaces it
        save_transcript(s, call_id="c1", leg="caller", audio_path="/r/c1-in.wav", status=DONE,
                        attempts=2, text="燃气 泄漏")
        s.commit()
        assert [t.call_id for t in search_transcripts(s, "燃气泄漏")] == ["c1"]
        assert search_transcripts(s, "投诉") == []
