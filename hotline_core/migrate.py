"""Database migrations at start-up (数据库迁移): bring any URL to the newest schema.

``upgrade(url)`` is what the server calls before it serves; the CLI is
``python -m hotline_core.migrate upgrade URL`` and, for developers adding a model,
``python -m hotline_core.migrate revision URL "message"`` (autogenerate against a
database that is at head).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

from hotline_core.db import Base

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Every module that declares tables on Base; optional ones may not exist yet.
MODEL_MODULES = ("hotline_core.workorders.model", "hotline_core.transcripts",
                 "hotline_core.call_records", "hotline_core.call_intervals",
                 "hotline_core.transfers", "hotline_core.campaigns.model",
                 "hotline_core.users", "hotline_core.workorders.deductions")
OPTIONAL_MODEL_MODULES: tuple[str, ...] = ()


def all_metadata() -> MetaData:
    for name in MODEL_MODULES:
        importlib.import_module(name)
    for name in OPTIONAL_MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return Base.metadata


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would eat the % of URL-encoded passwords.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "upgrade":
        upgrade(argv[1])
        return 0
    if len(argv) >= 3 and argv[0] == "revision":
        command.revision(alembic_config(argv[1]), message=argv[2], autogenerate=True)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
