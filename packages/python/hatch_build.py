"""Refuses to build a wheel that would lack the bundled companion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    """Checks that scripts/build-python.sh bundled the companion before the wheel is packed."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        bundle = Path(self.root) / "dlaas" / "companion" / "companion.mjs"
        if not bundle.is_file():
            raise RuntimeError(
                f"{bundle} is missing, so the wheel would have no companion. "
                "Build the wheel with `npm run build:python` (scripts/build-python.sh), "
                "which bundles the companion first."
            )
