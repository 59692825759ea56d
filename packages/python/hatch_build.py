"""Refuses to build a wheel that would lack the bundled companion or the prebuilt labextension."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    """Checks that scripts/build-python.sh bundled the companion and built the extension first."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        dlaas = Path(self.root) / "dlaas"
        for part, needed in [
            ("companion", dlaas / "companion" / "companion.mjs"),
            ("licence notices of the companion", dlaas / "companion" / "THIRD_PARTY_NOTICES.txt"),
            ("JupyterLab extension", dlaas / "labextension" / "package.json"),
        ]:
            if not needed.is_file():
                raise RuntimeError(
                    f"{needed} is missing, so the wheel would have no {part}. "
                    "Build the wheel with `npm run build:python` (scripts/build-python.sh), "
                    "which bundles the companion and builds the extension first."
                )
