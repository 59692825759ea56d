"""The dlaas companion as a child process of the Jupyter server, for as long as that runs.

:class:`CompanionProcess` starts the companion on a unix socket in a fresh private folder, starts
it again when it exits while the Jupyter server still runs, and stops it (SIGTERM, then SIGKILL
after a grace period) when the Jupyter server stops. The dlaas server extension
(:mod:`dlaas.serverextension`) uses it, and so does :mod:`dlaas.lake` in a Python process that
no Jupyter server started; it needs nothing from Jupyter itself.
"""

from __future__ import annotations

import atexit
import http.client
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from .serverproxy import COMPANION_ENVIRONMENT

#: Seconds a companion that stops to its own accord waits before it is started again; doubled
#: for each further exit soon after a start, up to :data:`MAX_RESTART_DELAY`.
RESTART_DELAY = 1.0

#: The longest wait before a companion that keeps stopping is started again.
MAX_RESTART_DELAY = 60.0

#: A companion that ran this many seconds before it stopped is started again after
#: :data:`RESTART_DELAY`, as if it had never failed.
STEADY_AFTER = 60.0

#: Seconds the companion has to stop after SIGTERM (and unmount the data lake) before SIGKILL.
STOP_GRACE = 10.0


class CompanionProcess:
    """One companion, listening on ``<private folder>/socket``, restarted until :meth:`stop`.

    The folder is made by :func:`tempfile.mkdtemp` (mode 0700) and the companion makes the socket
    mode 0600, so only the Jupyter server's own user can reach the companion except through
    Jupyter, which authenticates every request first. The socket path stays the same across
    restarts, so whatever forwards requests to it needs no news of a restart.
    """

    def __init__(
        self, command: Sequence[str], log: logging.Logger, output: str | None = None
    ) -> None:
        """Prepare the companion's private folder; ``command`` runs the companion without the
        ``--socket PATH`` that is appended to it. The companion writes its log lines to this
        process's stdout and stderr, or appends them to the file ``output`` in the private folder
        (e.g. ``companion.log``), which :meth:`stop` removes with the folder. Nothing starts
        before :meth:`start`.
        """
        self.folder = Path(tempfile.mkdtemp(prefix="dlaas-"))
        self.socket = self.folder / "socket"
        # --stop-with-stdin: the companion stops (and unmounts) when its stdin, a pipe from this
        # process, closes; so it goes even when the Jupyter server is killed with SIGKILL.
        self._command = [*command, "--socket", str(self.socket), "--stop-with-stdin"]
        self._log = log
        self.output = self.folder / output if output is not None else None
        # Held while a process is started, so that stop() never misses one started meanwhile.
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0

    @property
    def pid(self) -> int | None:
        """The process id of the companion running now, if one is."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def start(self) -> None:
        """Start the companion, and a thread that starts it again whenever it exits."""
        with self._lock:
            process = self._spawn()
        threading.Thread(
            target=self._watch, args=(process,), name="dlaas-companion", daemon=True
        ).start()
        # The Jupyter server calls stop() when it shuts down; this covers the ways out of the
        # Python process that skip its shutdown (sys.exit() from a signal handler, for one).
        atexit.register(self.stop)

    def wait_until_ready(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the companion to answer ``GET /health`` on its
        socket (any HTTP answer counts, as for jupyter-server-proxy). False, at once, if the
        companion started last exits first.
        """
        process = self._process
        deadline = time.monotonic() + timeout
        while process is not None and time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if _answers(self.socket):
                return True
            time.sleep(0.05)
        return False

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop the companion for good: SIGTERM, then SIGKILL if it is still there after
        ``grace`` seconds; then remove its folder. Calling it again does no harm.
        """
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                self._log.warning(
                    "The dlaas companion (pid %d) was still running %g s after SIGTERM; "
                    "sending SIGKILL.",
                    process.pid,
                    grace,
                )
                process.kill()
                process.wait()
            self._log.info("Stopped the dlaas companion (pid %d).", process.pid)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _spawn(self) -> subprocess.Popen[bytes]:
        """Start one companion process (with the lock held); its output goes to Jupyter's, or
        to the ``output`` file."""
        environment = {**os.environ, **COMPANION_ENVIRONMENT}
        if self.output is None:
            process = subprocess.Popen(self._command, stdin=subprocess.PIPE, env=environment)
        else:
            with self.output.open("ab") as output:
                process = subprocess.Popen(
                    self._command,
                    stdin=subprocess.PIPE,
                    stdout=output,
                    stderr=output,
                    env=environment,
                )
        self._process = process
        self._started_at = time.monotonic()
        self._log.info("Started the dlaas companion (pid %d) on %s.", process.pid, self.socket)
        return process

    def _watch(self, process: subprocess.Popen[bytes]) -> None:
        """Wait for the companion to exit and start it again, until :meth:`stop`."""
        quick_exits = 0
        while True:
            code = process.wait()
            if self._stopping.is_set():
                return
            ran = time.monotonic() - self._started_at
            quick_exits = quick_exits + 1 if ran < STEADY_AFTER else 1
            delay = min(RESTART_DELAY * 2 ** (quick_exits - 1), MAX_RESTART_DELAY)
            self._log.warning(
                "The dlaas companion (pid %d) %s after %.0f s; starting it again in %g s.",
                process.pid,
                _describe_exit(code),
                ran,
                delay,
            )
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                try:
                    process = self._spawn()
                except OSError as error:
                    self._log.error("The dlaas companion could not be started again: %s", error)
                    return


class UnixHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection over a unix socket (the companion's), for :func:`_answers` and
    :mod:`dlaas.lake`."""

    def __init__(self, path: str | Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        """Connect to the socket instead of a TCP port."""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self._path))


def _answers(path: Path) -> bool:
    """Whether an HTTP server answers ``GET /health`` on the unix socket ``path``."""
    connection = UnixHTTPConnection(path, timeout=5.0)
    try:
        connection.request("GET", "/health")
        connection.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _describe_exit(code: int) -> str:
    """``exited with code 1`` or ``was stopped by SIGKILL``, from a Popen return code."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        return f"was stopped by {signal.Signals(-code).name}"
    except ValueError:
        return f"was stopped by signal {-code}"
