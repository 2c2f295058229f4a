"""Every configuration file (配置文件) the hotline reads, with its model, in one place.

``CONFIG_FILES`` maps each file in ``config/`` and ``presets/`` (by glob, so a copy such as
``distribution.example.toml`` is covered too) to the :class:`ConfigModel` that declares
it and to the reader that loads it. From it:

* ``python -m stack.config_files`` writes the JSON Schema of each kind of file to
  ``docs/schemas/<name>.schema.json``, for editors (``#:schema`` in a TOML file);
* the tests check that every shipped file validates and that the committed schemas are
  the generated ones.

A new configuration file gets one ``ConfigFile`` line here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from hotline_core.access import AccessFile, load_policy
from hotline_core.acd.config import DistributionFile, load_distribution_config
from hotline_core.agent_directory import AgentsFile, load_agents
from hotline_core.campaigns.config import CampaignsConfig, load_campaigns_config
from hotline_core.config_schema import load_toml
from hotline_core.lines import LinesFile, load_lines
from hotline_core.transfers import (
    CentresFile,
    TransferListFile,
    load_centres,
    load_transfer_list,
)
from hotline_core.workorders.calendar import OverridesFile, load_overrides
from hotline_core.workorders.presets import PresetFile, load_preset
from speech.keywords import KeywordsFile, load_keywords
from stack.settings import REPO_ROOT, HotlineFile

SCHEMA_DIR = REPO_ROOT / "docs" / "schemas"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class ConfigFile:
    """One kind of configuration file."""

    pattern: str                       # glob relative to the repository root
    name: str                          # docs/schemas/<name>.schema.json
    model: type[BaseModel]
    load: Callable[[Path], object]     # the reader the hotline uses (model + cross-checks)

    @property
    def schema_path(self) -> Path:
        return SCHEMA_DIR / f"{self.name}.schema.json"


def _hotline(path: Path) -> object:
    # load_settings also makes the state directory's secrets: the model is the whole check.
    return load_toml(path, HotlineFile, "HOTLINE_CONFIG")


CONFIG_FILES: tuple[ConfigFile, ...] = (
    ConfigFile("config/hotline*.toml", "hotline", HotlineFile, _hotline),
    ConfigFile("config/agents*.toml", "agents", AgentsFile, load_agents),
    ConfigFile("config/lines*.toml", "lines", LinesFile, load_lines),
    ConfigFile("config/distribution*.toml", "distribution", DistributionFile,
               load_distribution_config),
    ConfigFile("config/calendar_overrides*.toml", "calendar_overrides", OverridesFile,
               load_overrides),
    ConfigFile("config/keywords*.toml", "keywords", KeywordsFile, load_keywords),
    ConfigFile("config/api_tokens*.yaml", "api_tokens", AccessFile, load_policy),
    ConfigFile("presets/*.toml", "preset", PresetFile, load_preset),
    ConfigFile("config/centres*.toml", "centres", CentresFile, load_centres),
    ConfigFile("config/transfer_list*.toml", "transfer_list", TransferListFile,
               load_transfer_list),
    ConfigFile("config/campaigns*.toml", "campaigns", CampaignsConfig, load_campaigns_config),
)


def config_file_for(path: Path) -> ConfigFile | None:
    """The kind of configuration file ``path`` (relative to the repository root) is."""
    for kind in CONFIG_FILES:
        if path.match(kind.pattern) and len(path.parts) == len(Path(kind.pattern).parts):
            return kind
    return None


class TomlJsonSchema(GenerateJsonSchema):
    """JSON Schema as a TOML file can be written: TOML has no null, so a setting whose
    default is "not set" (None) is described by its type alone."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        described = super().default_schema(schema)
        if "default" in described and described["default"] is None:
            del described["default"]
        return described


def json_schema(kind: ConfigFile) -> dict[str, Any]:
    """The JSON Schema of one kind of file, as committed under docs/schemas/."""
    schema = kind.model.model_json_schema(by_alias=True, mode="validation",
                                          schema_generator=TomlJsonSchema)
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def schema_text(kind: ConfigFile) -> str:
    return json.dumps(json_schema(kind), ensure_ascii=False, indent=2) + "\n"


def write_schemas() -> list[Path]:
    """Write every schema; the paths written."""
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in CONFIG_FILES:
        kind.schema_path.write_text(schema_text(kind), encoding="utf-8")
        written.append(kind.schema_path)
    return written


def main() -> int:
    for path in write_schemas():
        print(path.relative_to(REPO_ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
