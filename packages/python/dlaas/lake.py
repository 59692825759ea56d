"""Find data in the data lake and make it available, from Python code (a notebook, a script).

::

    from dlaas import lake
    found = lake.search("cta:prod5*", type="dataset", particle="gamma")
    paths = lake.make_available("cta:prod5.gamma_onSource")  # waits, then the files' local paths
    paths = lake.paths("cta:prod5.gamma_onSource")  # later: the paths of an available DID

Every function asks the dlaas companion, which holds the user's credentials and talks to Rucio,
and takes ``instance=`` (a data lake of the companion's configuration; by default its default
instance, else its first). Failures the user can act on raise :class:`LakeError`, whose message is
the companion's (or Rucio's) sentence saying what happened and what to do.

The companion is found in this order:

1. ``DLAAS_COMPANION_SOCKET``: the unix socket of the companion that the Jupyter server runs
   (:mod:`dlaas.serverextension` sets it, so every kernel the server starts inherits it);
2. otherwise (a notebook run headless by nbclient or papermill, a plain script) this module starts
   a companion of its own on first use, one per process, with the same configuration
   (``DLAAS_CONFIG``, else ``~/.config/dlaas/companion.json``), and stops it when Python exits.
"""

from __future__ import annotations

import html
import http.client
import json
import logging
import numbers
import os
import secrets
import shutil
import threading
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

from .serverproxy import READY_TIMEOUT, companion_command
from .supervisor import CompanionProcess, UnixHTTPConnection

#: The environment variable that names the socket of the Jupyter server's companion.
SOCKET_VARIABLE = "DLAAS_COMPANION_SOCKET"

#: The most search results :func:`search` returns (with a :class:`LakeWarning` when more match).
MAX_RESULTS = 1000

#: Seconds between two looks at a replication under way in :func:`make_available`.
POLL_SECONDS = 2.0

#: Seconds a request may wait for the companion's answer (a search of a large scope is slow).
REQUEST_TIMEOUT = 120.0

#: Seconds to wait for the companion's socket while the companion is started again after a stop.
RECONNECT_SECONDS = 10.0

_SEARCH_WINDOW = 500
_PATHS_WINDOW = 5000
_log = logging.getLogger(__name__)
# The supervisor's messages reach the application's logging, if it set any up; never stderr
# by default (a LakeError says what the user needs to know).
_log.addHandler(logging.NullHandler())
_own: CompanionProcess | None = None
_own_lock = threading.Lock()


class LakeError(Exception):
    """A data lake request failed; the message says what happened and what to do. ``code`` is the
    companion's error code (``not_found``, ``bad_request``, ...), when it gave one."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class LakeWarning(UserWarning):
    """Something the user should know about an answer: more results than shown, files left out."""


class Found(NamedTuple):
    """A DID that :func:`search` found: ``scope:name``, its type (``file``, ``dataset``,
    ``container``) and its size in bytes (None when Rucio has not counted it)."""

    did: str
    type: str
    bytes: int | None


class SearchResults(list[Found]):
    """The DIDs that :func:`search` found, shown as a table (in a notebook, an HTML one)."""

    def _rows(self) -> list[tuple[str, str, str]]:
        return [(found.did, found.type, _size(found.bytes)) for found in self]

    def __repr__(self) -> str:
        """A plain-text table, one DID a line."""
        if not self:
            return "No DIDs found."
        rows = [("DID", "type", "size"), *self._rows()]
        widths = [max(len(row[column]) for row in rows) for column in range(3)]
        return "\n".join(
            f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}" for row in rows
        )

    def _repr_html_(self) -> str:
        """An HTML table, every cell escaped, for notebooks."""
        if not self:
            return "<p>No DIDs found.</p>"
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
            for row in self._rows()
        )
        head = "<tr><th>DID</th><th>type</th><th>size</th></tr>"
        return f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"


def search(
    pattern: str, *, type: str = "all", instance: str | None = None, **metadata: str | float
) -> SearchResults:
    """Find the DIDs whose ``scope:name`` matches ``pattern`` (``*`` is a wildcard in the name),
    of ``type`` (``all``, ``collection``, ``container``, ``dataset`` or ``file``), whose metadata
    equal every keyword argument (``datatype="table"``, ``run_number=1001``).

    At most :data:`MAX_RESULTS` are returned, in Rucio's order, with a :class:`LakeWarning` when
    more match.
    """
    name = _instance(instance)
    request: dict[str, Any] = {"did": pattern, "type": type}
    if metadata:
        request["filters"] = [
            [{"key": k, "operator": "=", "value": _value(k, v)} for k, v in metadata.items()]
        ]
    found = SearchResults()
    while len(found) <= MAX_RESULTS:
        limit = min(_SEARCH_WINDOW, MAX_RESULTS + 1 - len(found))
        window = _request(
            "POST", _at(name, "search"), body={**request, "offset": len(found), "limit": limit}
        )
        items = window.get("items", [])
        found.extend(
            Found(
                f"{item['scope']}:{item['name']}",
                str(item["type"]).lower(),
                None if item.get("bytes") is None else int(item["bytes"]),
            )
            for item in items
        )
        if len(items) < limit:
            break
    if len(found) > MAX_RESULTS:
        del found[MAX_RESULTS:]
        warnings.warn(
            f"More than {MAX_RESULTS:,} DIDs match {pattern!r}; these are the first"
            f" {MAX_RESULTS:,}. Narrow the pattern, or add metadata filters, to see the others.",
            LakeWarning,
            stacklevel=2,
        )
    return found


def make_available(
    did: str, *, instance: str | None = None, timeout: float = 900.0, progress: bool = True
) -> list[str]:
    """Make ``did`` (``scope:name``) available on this server and wait until it is: returns the
    local paths of its files (see :func:`paths`). A DID that is available already returns at once.

    Shows its progress as one line updated in place (unless ``progress=False``). Raises
    :class:`LakeError` when Rucio cannot copy the files (with Rucio's reason), or after
    ``timeout`` seconds; the copy then goes on in the background.
    """
    name = _instance(instance)
    availability = _request("POST", _at(name, "make-available"), body={"did": did})["availability"]
    line = _ProgressLine(progress)
    deadline = time.monotonic() + timeout
    try:
        while True:
            line.show(_progress(did, availability))
            state = availability["state"]
            if state == "AVAILABLE":
                break
            if state == "NOT_AVAILABLE":  # the rule went away meanwhile
                raise LakeError(
                    f"The rule that made {did} available is gone (it expired or was removed):"
                    f" call lake.make_available({did!r}) again.",
                    "not_available",
                )
            if state != "REPLICATING":
                raise _not_available(did, availability)
            if time.monotonic() >= deadline:
                raise LakeError(
                    f"{did} is not available yet after {timeout:g} s"
                    f" ({_progress(did, availability)}). It goes on being made available in the"
                    " background: follow it in the Data Lake panel, or call"
                    f" lake.paths({did!r}) later (lake.make_available({did!r}) waits for it"
                    " again)."
                )
            time.sleep(max(0.0, min(POLL_SECONDS, deadline - time.monotonic())))
            availability = _request("GET", _at(name, "availability"), query={"did": did})
    finally:
        line.close()
    return _local_paths(name, did)


def paths(did: str, *, instance: str | None = None) -> list[str]:
    """The local paths of the files of ``did``, which must be available (see
    :func:`make_available`), in the companion's order.

    A file that has no local path is left out, with a :class:`LakeWarning` that says why for each
    (e.g. a name that would clash with another file's path); when no file has one, or the DID is
    not available, :class:`LakeError` says why.
    """
    name = _instance(instance)
    availability = _request("GET", _at(name, "availability"), query={"did": did})
    if availability["state"] != "AVAILABLE":
        raise _not_available(did, availability)
    return _local_paths(name, did)


def _local_paths(instance: str, did: str) -> list[str]:
    """Every window of the DID's ``/paths``: the paths there are, and a warning for the others."""
    entries: list[dict[str, Any]] = []
    while True:
        query = {"did": did, "offset": len(entries), "limit": _PATHS_WINDOW}
        items = _request("GET", _at(instance, "paths"), query=query).get("items", [])
        entries.extend(items)
        if len(items) < _PATHS_WINDOW:
            break
    found = [entry["path"] for entry in entries if entry.get("path")]
    missing = [entry for entry in entries if not entry.get("path")]
    reasons = [entry["problem"] for entry in missing if entry.get("problem")]
    if missing and (not found or len(reasons) < len(missing)):
        reasons.append(_no_paths_reason(instance))
    if missing and not found:
        raise LakeError(
            f"None of the {len(entries)} files of {did} has a local path: {reasons[-1]}"
        )
    if missing:
        warnings.warn(
            f"{len(missing)} of the {len(entries)} files of {did} are left out, having no local"
            f" path: {' '.join(dict.fromkeys(reasons))}",
            LakeWarning,
            stacklevel=3,
        )
    return found


def _no_paths_reason(instance: str) -> str:
    """Why the instance gives no local paths, from its configuration as the companion shows it."""
    instances = _request("GET", "/instances").get("instances", [])
    shown = next((i.get("paths") or {} for i in instances if i.get("name") == instance), {})
    return shown.get("problem") or (
        f"the data lake {instance!r} is configured without local paths. Ask your hub admin to"
        " configure them (the companion's `paths` setting), or read the files through Rucio."
    )


def _not_available(did: str, availability: dict[str, Any]) -> LakeError:
    """The error for a DID that is not (or no longer) on its way to being available."""
    state = availability["state"]
    if state == "STUCK":
        return LakeError(
            f"{did} could not be made available:"
            f" {(availability.get('error') or 'Rucio gave no reason').rstrip('.')}. Rucio tries"
            " stuck copies again by itself after a while; to try now, press Retry in the Data"
            " Lake panel, and if it stays stuck, send the data lake's admins this reason and the"
            f" rule id {availability.get('ruleId')}.",
            "stuck",
        )
    if state == "REPLICATING":
        return LakeError(
            f"{did} is being made available ({_progress(did, availability)}): wait for it with"
            f" lake.make_available({did!r}), or call lake.paths({did!r}) later.",
            "not_available",
        )
    return LakeError(
        f"{did} is not available yet: make it available first: lake.make_available({did!r}).",
        "not_available",
    )


def _progress(did: str, availability: dict[str, Any]) -> str:
    """``<did>: 3 of 4 files available (2.5 MB in all)``, with stuck files if any."""
    files = availability["files"]
    total = files.get("total")
    if total is None:
        total = files["ok"] + files["replicating"] + files["stuck"]
    line = f"{did}: {files['ok']:,} of {total:,} files available"
    if availability.get("totalBytes") is not None:
        line += f" ({_size(availability['totalBytes'])} in all)"
    return line + (f", {files['stuck']:,} stuck" if files["stuck"] else "")


class _ProgressLine:
    """One line of text updated in place: a display in a notebook, else ``\\r`` on stdout."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._handle: Any = None
        self._shown = ""

    def show(self, text: str) -> None:
        if not self._enabled or text == self._shown:
            return
        bundle = {"text/plain": text}
        if self._handle is not None:
            self._handle.update(bundle, raw=True)
        elif _in_kernel():
            from IPython.display import display

            self._handle = display(bundle, raw=True, display_id=True)
        else:
            print(f"\r{text}{' ' * max(0, len(self._shown) - len(text))}", end="", flush=True)
        self._shown = text

    def close(self) -> None:
        if self._shown and self._handle is None:
            print(flush=True)


def _in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel (IPython's shell with a kernel)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


def _size(count: float | None) -> str:
    """``1.2 MB``; ``–`` when unknown."""
    if count is None:
        return "–"
    value, unit = float(count), "B"
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if value < 1000 or unit == "PB":
            break
        value /= 1000
    return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"


def _value(key: str, value: object) -> str | int | float | bool:
    """A metadata filter value as JSON takes it (numpy numbers too)."""
    if isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"The metadata filter {key}={value!r} is neither text nor a number; give one.")


def _instance(instance: str | None) -> str:
    """The instance asked for, else the companion's default one, else its first."""
    if instance is not None:
        return instance
    answer = _request("GET", "/instances")
    instances = answer.get("instances") or []
    if not instances:
        raise LakeError(answer.get("message") or "No data lake is configured.", "not_configured")
    return next((i for i in instances if i.get("isDefault")), instances[0])["name"]


def _at(instance: str, what: str) -> str:
    return f"/instances/{quote(instance, safe='')}/{what}"


def _request(
    method: str, path: str, *, query: dict[str, Any] | None = None, body: object = None
) -> Any:
    """One request to the companion's ``/api``; its JSON answer, or :class:`LakeError`."""
    socket = _socket()
    url = "/api" + path + (f"?{urlencode(query)}" if query else "")
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        # The companion's XSRF check wants the same value in the cookie and the header; a local
        # client, which no web page can make send a cookie, may pick any.
        token = secrets.token_urlsafe(16)
        headers.update(
            {"Content-Type": "application/json", "Cookie": f"_xsrf={token}", "X-XSRFToken": token}
        )
    deadline = time.monotonic() + RECONNECT_SECONDS
    while True:
        connection = UnixHTTPConnection(socket, timeout=REQUEST_TIMEOUT)
        try:
            connection.request(method, url, body=data, headers=headers)
            response = connection.getresponse()
            status, text = response.status, response.read()
            break
        except (FileNotFoundError, ConnectionRefusedError) as error:
            # A companion that stopped is started again on the same socket within seconds.
            if time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise LakeError(_unreachable(socket, error), "unreachable") from None
        except TimeoutError:
            raise LakeError(
                f"The dlaas companion did not answer within {REQUEST_TIMEOUT:g} s (Rucio may be"
                " slow or busy). Try again; for a search, a narrower pattern answers sooner.",
                "unreachable",
            ) from None
        except (OSError, http.client.HTTPException) as error:
            raise LakeError(_unreachable(socket, error), "unreachable") from None
        finally:
            connection.close()
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if 200 <= status < 300 and answer is not None:
        return answer
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        raise LakeError(error["message"], error.get("code"))
    raise LakeError(
        f"The dlaas companion answered HTTP {status} without saying why. Try again; if it"
        " persists, look at the companion's log (the Jupyter server's, or this program's).",
        "bad_answer",
    )


def _unreachable(socket: str, error: Exception) -> str:
    if os.environ.get(SOCKET_VARIABLE):
        return (
            f"The dlaas companion of this Jupyter server does not answer on {socket} ({error})."
            " If the Jupyter server was restarted, restart this kernel; otherwise look in the"
            " Jupyter server's log for why the companion stopped."
        )
    return (
        f"The dlaas companion that this program started does not answer on {socket} ({error})."
        f" {_last_words(_own.output if _own else None)}Run the program again."
    )


def _socket() -> str:
    """The socket of the Jupyter server's companion, else of this process's own (started now)."""
    given = os.environ.get(SOCKET_VARIABLE)
    if given:
        return given
    global _own
    with _own_lock:
        if _own is None:
            _own = _start_companion()
        return str(_own.socket)


def _start_companion() -> CompanionProcess:
    """Start a companion for this process, stopped when Python exits; wait until it answers."""
    try:
        command = companion_command()
    except (OSError, RuntimeError) as error:  # no Node.js, or no companion: what to install
        raise LakeError(str(error), "not_configured") from None
    companion = CompanionProcess(command, _log, output="companion.log")
    try:
        companion.start()  # which stops it at exit
    except OSError as error:
        shutil.rmtree(companion.folder, ignore_errors=True)
        raise LakeError(f"The dlaas companion could not be started: {error}.") from None
    if not companion.wait_until_ready(READY_TIMEOUT):
        said = _last_words(companion.output)
        companion.stop()
        raise LakeError(
            f"The dlaas companion did not start (or not within {READY_TIMEOUT:g} s). {said}Check"
            " its configuration (DLAAS_CONFIG, else ~/.config/dlaas/companion.json), then try"
            " again.",
            "unreachable",
        )
    return companion


def _last_words(log: Path | None) -> str:
    """The companion's last sentence in its log (``dlaas-companion: ...`` when it gave up)."""
    try:
        lines = (log.read_text(errors="replace") if log else "").strip().splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.startswith("dlaas-companion: "):
            return f"It said: {line.removeprefix('dlaas-companion: ').rstrip('.')}. "
    return f"Its last words: {lines[-1][:500]}. " if lines else ""
