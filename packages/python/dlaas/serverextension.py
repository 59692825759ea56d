"""The Jupyter server extension that runs the dlaas companion from the start of the Jupyter server.

The companion mounts the user's data lake when it starts, so it must run as soon as the Jupyter
server does (a notebook run headless finds its files there), not only once a request arrives at
``<base_url>/dlaas/``. Installing the wheel enables this extension
(``etc/jupyter/jupyter_server_config.d/dlaas.json``); while it is linked to a Jupyter server it
runs one :class:`~dlaas.supervisor.CompanionProcess`, and the jupyter-server-proxy entry point
(:func:`dlaas.serverproxy.companion_server`) then forwards ``<base_url>/dlaas/`` to that
process's socket instead of starting a companion of its own. With the extension disabled,
jupyter-server-proxy starts the companion on the first request, as it did before.

Once the companion runs, the extension sets ``DLAAS_COMPANION_SOCKET`` to its socket in the
Jupyter server's environment, which every kernel (and terminal) the server starts inherits: there
:mod:`dlaas.lake` talks to this companion instead of starting one of its own.

The Jupyter server links every extension before it loads any, so the companion runs (and its
socket path is known) before jupyter-server-proxy asks the entry point what to forward to,
whatever order the extensions load in.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import TYPE_CHECKING

from jupyter_server.extension.application import ExtensionApp

from .lake import SOCKET_VARIABLE
from .serverproxy import READY_TIMEOUT, companion_command
from .supervisor import CompanionProcess

if TYPE_CHECKING:
    from jupyter_server.serverapp import ServerApp

#: The companion that this extension runs in this (Jupyter server) process, if it runs one.
_companion: CompanionProcess | None = None


def running_companion() -> CompanionProcess | None:
    """Return the companion that the dlaas server extension runs in this process, if any."""
    return _companion


class CompanionApp(ExtensionApp):
    """Starts the dlaas companion with the Jupyter server and stops it with the server."""

    name = "dlaas"
    description = "Runs the dlaas companion for as long as the Jupyter server runs."

    def _link_jupyter_server_extension(self, serverapp: ServerApp) -> None:
        """Start the companion, as the extension is linked: before any extension loads."""
        super()._link_jupyter_server_extension(serverapp)
        global _companion
        if _companion is not None:
            return
        try:
            command = companion_command()
        except (OSError, RuntimeError) as error:
            # NodeNotFoundError and FileNotFoundError say what to install; the Jupyter server
            # goes on (jupyter-server-proxy then logs that it cannot serve /dlaas/ either).
            self.log.error(
                "The dlaas companion was not started, so the data lake is not mounted: %s", error
            )
            return
        companion = CompanionProcess(command, self.log)
        try:
            companion.start()
        except OSError as error:
            shutil.rmtree(companion.folder, ignore_errors=True)
            self.log.error("The dlaas companion could not be started: %s", error)
            return
        _companion = companion
        # Kernels are children of the Jupyter server: dlaas.lake in them finds this companion.
        os.environ[SOCKET_VARIABLE] = str(companion.socket)

    def initialize_settings(self) -> None:
        """Wait (a bounded time) for the companion to answer, as the extension is loaded, so
        that its data lake is mounted by the time the Jupyter server takes requests.
        """
        companion = _companion
        if companion is None:
            return
        if companion.wait_until_ready(READY_TIMEOUT):
            self.log.info("The dlaas companion answers on %s.", companion.socket)
        else:
            self.log.warning(
                "The dlaas companion did not answer within %g s (see its messages above); the "
                "Jupyter server starts without waiting longer, and the companion is started "
                "again whenever it stops.",
                READY_TIMEOUT,
            )

    async def stop_extension(self) -> None:
        """Stop the companion (SIGTERM, then SIGKILL after a grace period) as the Jupyter
        server shuts down, so that it unmounts the data lake.
        """
        global _companion
        companion, _companion = _companion, None
        if companion is not None:
            if os.environ.get(SOCKET_VARIABLE) == str(companion.socket):
                del os.environ[SOCKET_VARIABLE]
            await asyncio.to_thread(companion.stop)
