"""The document's own answer model."""

from __future__ import annotations

from typing import Any

from pydantic import RootModel


class OpenApiDocument(RootModel[dict[str, Any]]):
    """An OpenAPI 3.1 document."""
