"""dlaas's part of the hub configuration, run by z2jh's ``jupyterhub_config.py`` (``hub.extraConfig``).

The chart renders its ``dlaas:`` values as JSON into the ConfigMap ``dlaas-hub`` (mounted at
``/usr/local/etc/jupyterhub/dlaas/``); :func:`configure` turns them into JupyterHub's settings:

- INDIGO IAM sign-in with OAuthenticator's ``GenericOAuthenticator`` (endpoints from the issuer,
  groups from the ``wlcg.groups``/``groups`` claim, auth state kept and refreshed before spawns);
- tokens renewed **before** they expire (:func:`refresh_ahead`; OAuthenticator's own refresh
  waits until the access token fails), and, if asked, exchanged for one with Rucio's audience
  (:func:`exchange_hook`, RFC 8693), kept in the auth state as ``rucio_access_token``;
- each user's server: the single-user image, the companion's configuration, and the FUSE mode.

Everything here is plain functions on plain data, so that the tests call them without a hub.
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

#: Where the chart mounts the ConfigMap that holds the ``dlaas:`` values (``DLAAS_HUB_SETTINGS``
#: names another file: a hub run outside Kubernetes, as the tests run z2jh's configuration).
SETTINGS_FILE = Path(os.environ.get("DLAAS_HUB_SETTINGS", "/usr/local/etc/jupyterhub/dlaas/dlaas.json"))
#: Where the companion's configuration is mounted in every user server.
COMPANION_CONFIG_DIR = "/etc/dlaas"
#: Scopes every IAM sign-in asks for; the lake's own come from ``iam.scopes``.
BASE_SCOPES = ("openid", "profile", "email", "offline_access")


class SettingsError(ValueError):
    """The ``dlaas:`` values cannot configure the hub; the message says what to change."""


def load_settings(path: Path = SETTINGS_FILE) -> dict[str, Any]:
    """The ``dlaas:`` values the chart rendered, as a dict."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SettingsError(
            f"dlaas: {path} is missing; the hub must run with the dlaas chart's ConfigMap dlaas-hub mounted."
        ) from None


def iam_endpoints(issuer: str) -> dict[str, str]:
    """IAM's authorize, token and userinfo URLs below its issuer (as INDIGO IAM serves them)."""
    if not issuer.startswith("https://") and not issuer.startswith("http://127.0.0.1"):
        raise SettingsError(
            f"dlaas: iam.issuer must be an https URL (it is {issuer!r}); only a test issuer on 127.0.0.1 may use http."
        )
    base = issuer.rstrip("/")
    return {
        "authorize_url": f"{base}/authorize",
        "token_url": f"{base}/token",
        "userdata_url": f"{base}/userinfo",
    }


def groups_of(groups_claim: str) -> Callable[[dict[str, Any]], list[str]]:
    """Reads the user's groups from the claim named ``groups_claim`` (which may hold dots, as
    IAM's ``wlcg.groups`` does), without the leading ``/`` IAM puts on WLCG groups."""

    def groups(auth_state: dict[str, Any]) -> list[str]:
        raw = (auth_state.get("oauth_user") or {}).get(groups_claim) or []
        if isinstance(raw, str):
            raw = raw.split()
        return [str(g).lstrip("/") for g in raw]

    return groups


def token_expiry(access_token: str | None, token_response: dict[str, Any] | None, now: float) -> float | None:
    """When an access token expires (seconds since the epoch): its JWT ``exp`` claim, else the
    token response's ``expires_in`` counted from ``now``; None when neither says."""
    if access_token and access_token.count(".") == 2:
        payload = access_token.split(".")[1]
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            if isinstance(claims, dict) and isinstance(claims.get("exp"), (int, float)):
                return float(claims["exp"])
        except ValueError:
            pass
    expires_in = (token_response or {}).get("expires_in")
    if isinstance(expires_in, (int, float)):
        return now + float(expires_in)
    return None


def refresh_ahead(seconds_before: float, clock: Callable[[], float] = time.time):
    """An OAuthenticator ``refresh_user_hook`` that renews the tokens once the access token has
    less than ``seconds_before`` left, with the refresh token; a refused refresh means a new
    login. Tokens with time left are left to OAuthenticator's own check (returns None)."""

    async def hook(authenticator, user, auth_state):
        if not auth_state:
            return None
        expires_at = auth_state.get("expires_at")
        if expires_at is None or expires_at - clock() > seconds_before:
            return None
        refresh_token = auth_state.get("refresh_token")
        if not refresh_token:
            authenticator.log.info(f"dlaas: the token of {user.name} expires and cannot be renewed; a new login is needed.")
            return False
        try:
            token_info = await authenticator.get_token_info(
                None, authenticator.build_refresh_token_request_params(refresh_token)
            )
        except Exception as error:  # the provider refused: revoked, expired, or down
            authenticator.log.info(f"dlaas: renewing the token of {user.name} failed ({error}); a new login is needed.")
            return False
        if not token_info.get("refresh_token"):
            token_info["refresh_token"] = refresh_token
        # The model a login makes, from the new token (OAuthenticator's one path for login and
        # refresh): userinfo read again, the auth state built and modified (the exchange), admin
        # and groups updated. JupyterHub wants the groups in it when groups are managed.
        try:
            return await authenticator._token_to_auth_model(token_info)
        except Exception as error:
            authenticator.log.info(f"dlaas: the renewed token of {user.name} was not accepted ({error}); a new login is needed.")
            return False

    return hook


def exchange_hook(exchange: dict[str, Any] | None, clock: Callable[[], float] = time.time):
    """An OAuthenticator ``modify_auth_state_hook``: records when the access token expires and,
    with ``exchange`` enabled, trades it at the token endpoint for one with Rucio's audience
    (RFC 8693), kept as ``rucio_access_token`` (and ``rucio_expires_at``)."""

    async def hook(authenticator, auth_state):
        now = clock()
        auth_state["expires_at"] = token_expiry(
            auth_state.get("access_token"), auth_state.get("token_response"), now
        )
        if not exchange or not exchange.get("enabled"):
            return auth_state
        params = {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": auth_state["access_token"],
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "audience": exchange["audience"],
        }
        if exchange.get("scope"):
            params["scope"] = exchange["scope"]
        if not authenticator.basic_auth:
            # As OAuthenticator sends its own grants: the client's credentials in the form.
            params.update(client_id=authenticator.client_id, client_secret=authenticator.client_secret)
        answer = await authenticator.httpfetch(
            authenticator.token_url,
            label="exchanging the access token for Rucio's audience",
            method="POST",
            headers=authenticator.build_token_info_request_headers(),
            body=urlencode(params).encode(),
            validate_cert=authenticator.validate_server_cert,
        )
        auth_state["rucio_access_token"] = answer["access_token"]
        auth_state["rucio_expires_at"] = token_expiry(answer["access_token"], answer, now)
        return auth_state

    return hook


def fuse_settings(fuse: dict[str, Any]) -> dict[str, Any]:
    """KubeSpawner settings for the FUSE mode: ``privileged`` (the node's ``/dev/fuse`` and the
    ``SYS_ADMIN`` capability), ``devicePlugin`` (a resource a FUSE device plugin exposes),
    ``hostPath`` (a site mount such as EOS, read through prefix mappings) or ``off``."""
    mode = fuse.get("mode", "off")
    if mode == "privileged":
        return {
            "volumes": [{"name": "dev-fuse", "hostPath": {"path": "/dev/fuse", "type": "CharDevice"}}],
            "volume_mounts": [{"name": "dev-fuse", "mountPath": "/dev/fuse"}],
            # A capability needs privilege escalation allowed (fusermount is setuid).
            "container_security_context": {
                "capabilities": {"add": ["SYS_ADMIN"]},
                "allowPrivilegeEscalation": True,
            },
        }
    if mode == "devicePlugin":
        plugin = fuse.get("devicePlugin") or {}
        resource = plugin.get("resource")
        if not resource:
            raise SettingsError("dlaas: fuse.mode devicePlugin needs fuse.devicePlugin.resource (e.g. smarter-devices/fuse).")
        return {"extra_resource_limits": {resource: str(plugin.get("count", 1))}}
    if mode == "hostPath":
        host = fuse.get("hostPath") or {}
        if not host.get("path"):
            raise SettingsError("dlaas: fuse.mode hostPath needs fuse.hostPath.path (the site mount on the nodes, e.g. /eos).")
        mount_path = host.get("mountPath", host["path"])
        return {
            "volumes": [{"name": "site-mount", "hostPath": {"path": host["path"], "type": "Directory"}}],
            "volume_mounts": [{"name": "site-mount", "mountPath": mount_path, "readOnly": True}],
        }
    if mode == "off":
        return {}
    raise SettingsError(f"dlaas: fuse.mode must be privileged, devicePlugin, hostPath or off (it is {mode!r}).")


def spawner_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """KubeSpawner settings of every user server: image, companion configuration, FUSE mode."""
    fuse = fuse_settings(settings.get("fuse") or {})
    spawner: dict[str, Any] = {
        "volumes": [{"name": "dlaas-companion", "configMap": {"name": "dlaas-companion"}}] + fuse.get("volumes", []),
        "volume_mounts": [{"name": "dlaas-companion", "mountPath": COMPANION_CONFIG_DIR, "readOnly": True}]
        + fuse.get("volume_mounts", []),
        "environment": {"DLAAS_CONFIG": f"{COMPANION_CONFIG_DIR}/companion.json"},
    }
    for key in ("container_security_context", "extra_resource_limits"):
        if key in fuse:
            spawner[key] = fuse[key]
    image = settings.get("image") or {}
    if image.get("name"):
        spawner["image"] = f"{image['name']}:{image.get('tag', 'latest')}"
    return spawner


def configure(c: Any, settings: dict[str, Any], client_secret: str | None = None) -> None:
    """Sets JupyterHub's configuration ``c`` from the ``dlaas:`` values."""
    iam = settings.get("iam") or {}
    if not iam.get("issuer") or not iam.get("clientId"):
        raise SettingsError("dlaas: iam.issuer and iam.clientId are needed to sign users in with IAM.")
    c.JupyterHub.authenticator_class = "generic-oauth"
    oauth = c.GenericOAuthenticator
    for key, url in iam_endpoints(iam["issuer"]).items():
        setattr(oauth, key, url)
    oauth.client_id = iam["clientId"]
    # IAM's clients authenticate at the token endpoint with client_secret_basic by default.
    oauth.basic_auth = True
    if client_secret:
        oauth.client_secret = client_secret
    oauth.login_service = iam.get("loginService") or "IAM"
    if iam.get("callbackUrl"):
        oauth.oauth_callback_url = iam["callbackUrl"]
    oauth.scope = list(dict.fromkeys([*BASE_SCOPES, *(iam.get("scopes") or [])]))
    oauth.username_claim = iam.get("usernameClaim", "preferred_username")
    oauth.manage_groups = True
    oauth.auth_state_groups_key = groups_of(iam.get("groupsClaim", "wlcg.groups"))
    allowed = iam.get("allowedGroups") or []
    if allowed:
        oauth.allowed_groups = set(allowed)
    else:
        oauth.allow_all = True
    if iam.get("adminGroups"):
        oauth.admin_groups = set(iam["adminGroups"])
    c.Authenticator.enable_auth_state = True
    refresh = settings.get("refresh") or {}
    oauth.refresh_pre_spawn = True
    oauth.auth_refresh_age = int(refresh.get("checkEverySeconds", 60))
    oauth.refresh_user_hook = refresh_ahead(float(refresh.get("secondsBeforeExpiry", 300)))
    oauth.modify_auth_state_hook = exchange_hook(settings.get("tokenExchange"))
    spawner = c.KubeSpawner
    for key, value in spawner_settings(settings).items():
        # z2jh has set the user's volumes and variables from singleuser.*: add to them.
        current = spawner[key] if key in spawner else None
        if isinstance(value, list) and isinstance(current, list):
            value = [*current, *value]
        elif isinstance(value, dict) and isinstance(current, dict):
            value = {**current, **value}
        spawner[key] = value
