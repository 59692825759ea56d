"""dlaas: DataLake-as-a-Service for JupyterLab.

Installing this distribution is enough to run the dlaas companion inside Jupyter:
jupyter-server-proxy finds the ``jupyter_serverproxy_servers`` entry point ``dlaas``
(:func:`dlaas.serverproxy.companion_server`) and starts the bundled companion on a private unix
socket the first time a request arrives under ``<base_url>/dlaas/``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dlaas")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
