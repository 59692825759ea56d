"""dlaas: DataLake-as-a-Service for JupyterLab.

Installing this distribution is enough to run the dlaas companion inside Jupyter: the Jupyter
server extension ``dlaas`` (:class:`dlaas.serverextension.CompanionApp`, enabled by the wheel's
``etc/jupyter/jupyter_server_config.d/dlaas.json``) starts the bundled companion on a private unix
socket when the Jupyter server starts, and jupyter-server-proxy's entry point ``dlaas``
(:func:`dlaas.serverproxy.companion_server`) forwards ``<base_url>/dlaas/`` to it.

For those who prefer code, :mod:`dlaas.lake` finds data (``lake.search``), makes it available
(``lake.make_available``) and gives the local paths of its files (``lake.paths``).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("dlaas")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """The Jupyter server extension of this package: :class:`~dlaas.serverextension.CompanionApp`."""
    # Imported here, so that importing dlaas does not import the Jupyter server.
    from .serverextension import CompanionApp

    return [{"module": "dlaas.serverextension", "app": CompanionApp}]
