"""The user pods KubeSpawner 7.0.0 makes from the chart's hub configuration, one per FUSE mode,
built offline (KubeSpawner's ``_mock``) and validated against Kubernetes 1.33's schemas."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

#: KubeSpawner reads a Kubernetes client configuration when it is made (nothing is asked of the
#: cluster it names); kubernetes_asyncio takes KUBECONFIG's value when it is imported.
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: none, user: {token: unused}}]
contexts: [{name: none, context: {cluster: none, user: none, namespace: hub}}]
current-context: none
"""
_kubeconfig = Path(tempfile.mkdtemp(prefix="dlaas-kubeconfig-")) / "config"
_kubeconfig.write_text(KUBECONFIG)
os.environ["KUBECONFIG"] = str(_kubeconfig)

import kubernetes_validate  # noqa: E402
import pytest  # noqa: E402
from kubernetes_asyncio.client import ApiClient  # noqa: E402
from kubespawner import KubeSpawner  # noqa: E402
from traitlets.config import Config  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "files"))

import dlaas_hub  # noqa: E402

IAM = {"issuer": "https://iam.example.org/", "clientId": "dlaas-hub"}


def user_pod(fuse: dict) -> dict:
    """The pod KubeSpawner makes for a user with the chart's settings and this FUSE mode."""
    c = Config()
    # What z2jh sets before dlaas's configuration runs: the home volume.
    c.KubeSpawner.volumes = [{"name": "home", "persistentVolumeClaim": {"claimName": "claim-{username}"}}]
    c.KubeSpawner.volume_mounts = [{"name": "home", "mountPath": "/home/jovyan"}]
    dlaas_hub.configure(c, {"iam": IAM, "fuse": fuse, "image": {"name": "ghcr.io/dlaas/singleuser", "tag": "0.1.0"}})

    async def make() -> dict:
        spawner = KubeSpawner(config=c, _mock=True)
        pod = await spawner.get_pod_manifest()
        async with ApiClient() as api:
            return api.sanitize_for_serialization(pod)

    pod = asyncio.run(make())
    kubernetes_validate.validate(pod, "1.33.0", strict=True)
    return pod


def container(pod: dict) -> dict:
    return pod["spec"]["containers"][0]


def test_every_pod_has_the_image_the_companion_config_and_the_home():
    pod = user_pod({"mode": "off"})
    notebook = container(pod)
    assert notebook["image"] == "ghcr.io/dlaas/singleuser:0.1.0"
    assert {"name": "DLAAS_CONFIG", "value": "/etc/dlaas/companion.json"} in notebook["env"]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["home", "dlaas-companion"]
    assert {"name": "dlaas-companion", "mountPath": "/etc/dlaas", "readOnly": True} in notebook["volumeMounts"]
    assert "securityContext" not in notebook or "capabilities" not in notebook["securityContext"]


def test_privileged_pods_get_dev_fuse_and_sys_admin():
    pod = user_pod({"mode": "privileged"})
    notebook = container(pod)
    assert notebook["securityContext"]["capabilities"]["add"] == ["SYS_ADMIN"]
    assert notebook["securityContext"]["allowPrivilegeEscalation"] is True
    fuse = next(v for v in pod["spec"]["volumes"] if v["name"] == "dev-fuse")
    assert fuse["hostPath"] == {"path": "/dev/fuse", "type": "CharDevice"}
    assert {"name": "dev-fuse", "mountPath": "/dev/fuse"} in notebook["volumeMounts"]


def test_device_plugin_pods_ask_for_the_resource():
    pod = user_pod({"mode": "devicePlugin", "devicePlugin": {"resource": "smarter-devices/fuse", "count": 1}})
    assert container(pod)["resources"]["limits"]["smarter-devices/fuse"] == "1"
    assert "dev-fuse" not in [v["name"] for v in pod["spec"]["volumes"]]


@pytest.mark.parametrize("mount_path", ["/eos", "/mnt/eos"])
def test_host_path_pods_see_the_site_mount_read_only(mount_path):
    pod = user_pod({"mode": "hostPath", "hostPath": {"path": "/eos", "mountPath": mount_path}})
    site = next(v for v in pod["spec"]["volumes"] if v["name"] == "site-mount")
    assert site["hostPath"] == {"path": "/eos", "type": "Directory"}
    assert {"name": "site-mount", "mountPath": mount_path, "readOnly": True} in container(pod)["volumeMounts"]
