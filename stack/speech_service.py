"""The speech side of the stack: its settings from the hotline configuration, and the
worker-pool process (``python -m stack.speech_service``) that ``hotline up`` starts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hotline_core.config_errors import ConfigError
from speech.settings import SpeechSettings
from stack.secret_files import restrict_umask
from stack.settings import REPO_ROOT, Settings, load_settings


def speech_settings(settings: Settings) -> SpeechSettings | None:
    """None when transcription is off (no ``[speech]`` model_dir configured)."""
    raw = dict(settings.speech)
    if not raw.get("model_dir"):
        return None
    keywords = Path(raw.get("keywords_file", "config/keywords.toml"))
    if raw.get("keywords_file", "config/keywords.toml"):     # "": no keyword alerts
        raw["keywords_file"] = str(keywords if keywords.is_absolute() else REPO_ROOT / keywords)
    if "namespace" in raw:      # one namespace for the whole hotline, or the two sides miss
        raise ConfigError(settings.source, "speech.namespace",
                          "not a [speech] setting: set [redis] namespace")
    raw["namespace"] = settings.redis_namespace
    raw.setdefault("redis_url", settings.redis_url)
    raw.setdefault("database_url", settings.database_url)
    raw.setdefault("work_dir", str(settings.state_dir / "speech"))
    return SpeechSettings.from_mapping(raw, settings.source)


def main(argv: list[str] | None = None) -> int:
    restrict_umask()    # transcripts and working files are not for other users of the machine
    parser = argparse.ArgumentParser(prog="hotline-speech")
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        speech = speech_settings(load_settings(args.config))
    except ConfigError as exc:
        print(f"hotline-speech: bad setting: {exc}", file=sys.stderr)
        return 2
    if speech is None:
        print("hotline-speech: no [speech] model_dir configured", file=sys.stderr)
        return 2
    from speech.worker import serve

    serve(speech)
    return 0


if __name__ == "__main__":
    sys.exit(main())
