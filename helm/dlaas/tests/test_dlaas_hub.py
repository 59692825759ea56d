"""Tests of the chart's hub configuration (files/dlaas_hub.py), with OAuthenticator and KubeSpawner
at z2jh 4.4.0's versions, and a real HTTP token endpoint on loopback playing IAM's."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from oauthenticator.generic import GenericOAuthenticator
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler
from traitlets.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "files"))

import dlaas_hub  # noqa: E402

ESCAPE = {
    "iam": {
        "issuer": "https://iam-escape.cloud.cnaf.infn.it/",
        "clientId": "dlaas-hub",
        "scopes": ["wlcg.groups", "storage.read:/"],
        "groupsClaim": "wlcg.groups",
        "allowedGroups": ["escape"],
        "adminGroups": ["escape/hub-admins"],
    },
    "refresh": {"secondsBeforeExpiry": 300, "checkEverySeconds": 60},
    "tokenExchange": {"enabled": True, "audience": "rucio"},
    "fuse": {"mode": "privileged"},
    "image": {"name": "ghcr.io/dlaas/singleuser", "tag": "0.1.0"},
}


def jwt(claims: dict) -> str:
    """An unsigned JWT with these claims (only its payload is read)."""
    part = lambda value: base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


def authenticator(c: Config) -> GenericOAuthenticator:
    return GenericOAuthenticator(config=c)


def test_iam_sign_in_is_configured_from_the_values():
    c = Config()
    dlaas_hub.configure(c, ESCAPE, client_secret="s3cret")
    a = authenticator(c)
    assert c.JupyterHub.authenticator_class == "generic-oauth"
    assert a.authorize_url == "https://iam-escape.cloud.cnaf.infn.it/authorize"
    assert a.token_url == "https://iam-escape.cloud.cnaf.infn.it/token"
    assert a.userdata_url == "https://iam-escape.cloud.cnaf.infn.it/userinfo"
    assert a.client_id == "dlaas-hub" and a.client_secret == "s3cret"
    assert a.scope == ["openid", "profile", "email", "offline_access", "wlcg.groups", "storage.read:/"]
    assert a.allowed_groups == {"escape"} and a.admin_groups == {"escape/hub-admins"}
    assert a.enable_auth_state and a.refresh_pre_spawn and a.auth_refresh_age == 60
    assert a.manage_groups
    # IAM's clients authenticate with client_secret_basic; the login button names the service.
    assert a.basic_auth and a.login_service == "IAM"
    dlaas_hub.configure(c, {**ESCAPE, "iam": {**ESCAPE["iam"], "loginService": "ESCAPE IAM"}})
    assert authenticator(c).login_service == "ESCAPE IAM"


def test_groups_come_from_a_claim_with_dots_without_iam_leading_slash():
    groups = dlaas_hub.groups_of("wlcg.groups")
    assert groups({"oauth_user": {"wlcg.groups": ["/escape", "/escape/hub-admins"]}}) == ["escape", "escape/hub-admins"]
    assert dlaas_hub.groups_of("groups")({"oauth_user": {"groups": "a b"}}) == ["a", "b"]
    assert groups({"oauth_user": {}}) == []


def test_a_plain_http_issuer_is_refused_with_a_sentence_unless_on_loopback():
    with pytest.raises(dlaas_hub.SettingsError, match="https"):
        dlaas_hub.iam_endpoints("http://iam.example.org/")
    assert dlaas_hub.iam_endpoints("http://127.0.0.1:9000")["token_url"] == "http://127.0.0.1:9000/token"


def test_values_without_issuer_say_what_is_missing():
    with pytest.raises(dlaas_hub.SettingsError, match="iam.issuer and iam.clientId"):
        dlaas_hub.configure(Config(), {"iam": {"issuer": "https://iam.example.org/"}})


@pytest.mark.parametrize(
    ("fuse", "expected"),
    [
        ({"mode": "off"}, {}),
        ({"mode": "devicePlugin", "devicePlugin": {"resource": "smarter-devices/fuse"}}, {"extra_resource_limits": {"smarter-devices/fuse": "1"}}),
    ],
)
def test_fuse_modes_without_volumes(fuse, expected):
    assert dlaas_hub.fuse_settings(fuse) == expected


def test_privileged_fuse_gives_dev_fuse_and_sys_admin_with_escalation_allowed():
    settings = dlaas_hub.fuse_settings({"mode": "privileged"})
    assert settings["volumes"][0]["hostPath"] == {"path": "/dev/fuse", "type": "CharDevice"}
    assert settings["volume_mounts"][0]["mountPath"] == "/dev/fuse"
    context = settings["container_security_context"]
    assert context["capabilities"]["add"] == ["SYS_ADMIN"] and context["allowPrivilegeEscalation"] is True


def test_host_path_mounts_the_site_folder_read_only():
    settings = dlaas_hub.fuse_settings({"mode": "hostPath", "hostPath": {"path": "/eos"}})
    assert settings["volumes"][0]["hostPath"]["path"] == "/eos"
    assert settings["volume_mounts"][0] == {"name": "site-mount", "mountPath": "/eos", "readOnly": True}


@pytest.mark.parametrize(
    ("fuse", "sentence"),
    [
        ({"mode": "fast"}, "privileged, devicePlugin, hostPath or off"),
        ({"mode": "devicePlugin"}, "fuse.devicePlugin.resource"),
        ({"mode": "hostPath"}, "fuse.hostPath.path"),
    ],
)
def test_bad_fuse_values_say_what_to_change(fuse, sentence):
    with pytest.raises(dlaas_hub.SettingsError, match=sentence.replace(".", r"\.")):
        dlaas_hub.fuse_settings(fuse)


def test_user_servers_keep_z2jh_volumes_and_variables_and_get_the_companion_config():
    c = Config()
    c.KubeSpawner.volumes = [{"name": "home", "persistentVolumeClaim": {"claimName": "claim-{username}"}}]
    c.KubeSpawner.environment = {"JUPYTERHUB_SINGLEUSER_APP": "jupyter_server.serverapp.ServerApp"}
    dlaas_hub.configure(c, ESCAPE)
    names = [v["name"] for v in c.KubeSpawner.volumes]
    assert names == ["home", "dlaas-companion", "dev-fuse"]
    assert c.KubeSpawner.environment == {
        "JUPYTERHUB_SINGLEUSER_APP": "jupyter_server.serverapp.ServerApp",
        "DLAAS_CONFIG": "/etc/dlaas/companion.json",
    }
    assert c.KubeSpawner.image == "ghcr.io/dlaas/singleuser:0.1.0"
    assert {"name": "dlaas-companion", "mountPath": "/etc/dlaas", "readOnly": True} in c.KubeSpawner.volume_mounts


def test_token_expiry_from_the_jwt_else_from_expires_in():
    assert dlaas_hub.token_expiry(jwt({"exp": 2000}), {"expires_in": 10}, now=1000) == 2000
    assert dlaas_hub.token_expiry("opaque", {"expires_in": 10}, now=1000) == 1010
    assert dlaas_hub.token_expiry("opaque", None, now=1000) is None


class TokenEndpoint:
    """IAM's token endpoint on loopback: answers refresh and token-exchange grants, records them."""

    def __init__(self):
        self.grants: list[dict[str, list[str]]] = []
        self.authorizations: list[str | None] = []
        self.refuse = False
        self.refuse_userinfo = False
        endpoint = self

        class Token(RequestHandler):
            def post(self):
                form = parse_qs(self.request.body.decode())
                endpoint.grants.append(form)
                endpoint.authorizations.append(self.request.headers.get("Authorization"))
                if endpoint.refuse:
                    self.set_status(400)
                    self.finish({"error": "invalid_grant"})
                    return
                grant = form["grant_type"][0]
                if grant == "refresh_token":
                    self.finish({"access_token": jwt({"exp": 5000, "n": 2}), "expires_in": 600, "token_type": "Bearer"})
                else:
                    self.finish({"access_token": jwt({"exp": 4000, "aud": form["audience"][0]}), "token_type": "Bearer"})

        class UserInfo(RequestHandler):
            def get(self):
                if endpoint.refuse_userinfo:
                    self.set_status(401)
                    self.finish({"error": "invalid_token"})
                    return
                self.finish({"preferred_username": "alice", "groups": ["/dlaas", "/dlaas/admins"]})

        sockets = bind_sockets(0, "127.0.0.1")
        base = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
        self.url = f"{base}/token"
        self.userinfo_url = f"{base}/userinfo"
        self.server = HTTPServer(Application([("/token", Token), ("/userinfo", UserInfo)]))
        self.server.add_sockets(sockets)


class User:
    name = "alice"


@pytest.fixture
def endpoint():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop, TokenEndpoint()
    loop.close()


def token_authenticator(url: str, exchange: dict | None = None) -> GenericOAuthenticator:
    c = Config()
    c.GenericOAuthenticator.token_url = url
    c.GenericOAuthenticator.userdata_url = url.replace("/token", "/userinfo")
    c.GenericOAuthenticator.username_claim = "preferred_username"
    c.GenericOAuthenticator.manage_groups = True
    c.GenericOAuthenticator.auth_state_groups_key = dlaas_hub.groups_of("groups")
    c.GenericOAuthenticator.admin_groups = {"dlaas/admins"}
    c.GenericOAuthenticator.client_id = "dlaas-hub"
    c.GenericOAuthenticator.client_secret = "s3cret"
    a = GenericOAuthenticator(config=c)
    a.modify_auth_state_hook = dlaas_hub.exchange_hook(exchange, clock=lambda: 1000)
    return a


def test_a_token_near_its_expiry_is_renewed_before_it_fails(endpoint):
    loop, idp = endpoint
    a = token_authenticator(idp.url)
    hook = dlaas_hub.refresh_ahead(300, clock=lambda: 1000)
    state = {"access_token": jwt({"exp": 1100}), "refresh_token": "r1", "expires_at": 1100.0, "oauth_user": {"sub": "a"}}
    model = loop.run_until_complete(hook(a, User(), state))
    assert idp.grants[0]["grant_type"] == ["refresh_token"] and idp.grants[0]["refresh_token"] == ["r1"]
    assert model["name"] == "alice"
    assert model["auth_state"]["expires_at"] == 5000.0
    assert model["auth_state"]["refresh_token"] == "r1"
    # A login's model: userinfo read again, groups (which JupyterHub requires when it manages
    # them) and admin from the groups.
    assert model["auth_state"]["oauth_user"]["preferred_username"] == "alice"
    assert model["groups"] == ["dlaas", "dlaas/admins"] and model["admin"] is True


def test_a_renewed_token_the_provider_does_not_accept_asks_for_a_new_login(endpoint):
    loop, idp = endpoint
    idp.refuse_userinfo = True
    hook = dlaas_hub.refresh_ahead(300, clock=lambda: 1000)
    state = {"access_token": jwt({"exp": 1100}), "refresh_token": "r1", "expires_at": 1100.0}
    assert loop.run_until_complete(hook(token_authenticator(idp.url), User(), state)) is False
    assert idp.grants[0]["grant_type"] == ["refresh_token"]


def test_a_token_with_time_left_is_left_to_oauthenticator(endpoint):
    loop, idp = endpoint
    hook = dlaas_hub.refresh_ahead(300, clock=lambda: 1000)
    state = {"access_token": "x", "refresh_token": "r1", "expires_at": 2000.0}
    assert loop.run_until_complete(hook(token_authenticator(idp.url), User(), state)) is None
    assert idp.grants == []


def test_a_refused_renewal_asks_for_a_new_login(endpoint):
    loop, idp = endpoint
    idp.refuse = True
    hook = dlaas_hub.refresh_ahead(300, clock=lambda: 1000)
    state = {"access_token": "x", "refresh_token": "revoked", "expires_at": 1010.0}
    assert loop.run_until_complete(hook(token_authenticator(idp.url), User(), state)) is False


def test_with_exchange_on_the_auth_state_gets_a_token_for_rucio(endpoint):
    loop, idp = endpoint
    a = token_authenticator(idp.url, {"enabled": True, "audience": "rucio", "scope": "openid"})
    state = loop.run_until_complete(a.modify_auth_state_hook(a, {"access_token": jwt({"exp": 1600})}))
    grant = idp.grants[0]
    assert grant["grant_type"] == ["urn:ietf:params:oauth:grant-type:token-exchange"]
    assert grant["audience"] == ["rucio"] and grant["scope"] == ["openid"]
    assert state["expires_at"] == 1600.0
    assert state["rucio_expires_at"] == 4000.0
    rucio = json.loads(base64.urlsafe_b64decode(state["rucio_access_token"].split(".")[1] + "=="))
    assert rucio["aud"] == "rucio"


@pytest.mark.parametrize("basic", [True, False])
def test_the_exchange_authenticates_the_client_as_oauthenticator_does(endpoint, basic):
    loop, idp = endpoint
    a = token_authenticator(idp.url, {"enabled": True, "audience": "rucio"})
    a.basic_auth = basic
    loop.run_until_complete(a.modify_auth_state_hook(a, {"access_token": jwt({"exp": 1600})}))
    grant, authorization = idp.grants[0], idp.authorizations[0]
    if basic:
        assert authorization == "Basic " + base64.b64encode(b"dlaas-hub:s3cret").decode()
        assert "client_secret" not in grant
    else:
        assert authorization is None
        assert grant["client_id"] == ["dlaas-hub"] and grant["client_secret"] == ["s3cret"]


def test_a_refused_exchange_is_an_error_that_names_the_step(endpoint, caplog):
    loop, idp = endpoint
    idp.refuse = True
    a = token_authenticator(idp.url, {"enabled": True, "audience": "rucio"})
    with pytest.raises(Exception, match="400"):
        loop.run_until_complete(a.modify_auth_state_hook(a, {"access_token": jwt({"exp": 1600})}))
    assert "exchanging the access token for Rucio's audience" in caplog.text


def test_without_exchange_only_the_expiry_is_added(endpoint):
    loop, idp = endpoint
    a = token_authenticator(idp.url, None)
    state = loop.run_until_complete(a.modify_auth_state_hook(a, {"access_token": "opaque", "token_response": {"expires_in": 60}}))
    assert state == {"access_token": "opaque", "token_response": {"expires_in": 60}, "expires_at": 1060.0}
    assert idp.grants == []
