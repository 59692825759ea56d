import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments } from 'yaml';
import type { DevlakeStatus } from '../../packages/devlake/src/lake.js';
import { HUB_REQUIREMENTS, HUB_VENV } from './hub.js';
import { ensureVenv, freePort, groupAlive, REPO, run, signalGroup } from './processes.js';

/**
 * A JupyterHub as the Helm chart deploys it, on a machine without Kubernetes: `helm template` of
 * helm/dlaas with `examples/devlake.yaml` (and the running devlake's addresses), then
 * z2jh 4.4.0's own `jupyterhub_config.py` run on what was rendered, with JupyterHub,
 * OAuthenticator and KubeSpawner at z2jh 4.4.0's versions.
 *
 * The rendered hub Deployment says which ConfigMaps and Secrets are mounted where below
 * `/usr/local/etc/jupyterhub`, and which environment the hub gets; both are reproduced in a
 * folder (a mount point becomes a folder, so that path is rewritten in the files laid out there).
 * Then `local_config.py` runs z2jh's configuration unchanged and overrides only what needs
 * Kubernetes: a local process spawner in place of KubeSpawner (its servers run from the
 * single-user venv, made by the image's own install.sh, with the environment KubeSpawner would
 * give the pod), and the proxy and hub addresses on loopback.
 */

/** Where the hub pod's configuration is mounted (z2jh.py reads its values from there). */
const POD_ETC = '/usr/local/etc/jupyterhub';
/** Where the user pod gets the companion's configuration (dlaas_hub.COMPANION_CONFIG_DIR). */
const POD_COMPANION_DIR = '/etc/dlaas';
/** The client secret a hub admin puts into the Secret dlaas-iam (devlake's client dlaas-hub). */
const CLIENT_SECRET = 'dlaas-hub-secret';

/** The venv the single-user servers run from: what the single-user image holds. */
export const SINGLEUSER_VENV = join(REPO, '.venv-singleuser');
/**
 * What Jupyter Docker Stacks' base image brings (JupyterHub's single-user server at the hub's
 * version, a Python kernel); images/singleuser/install.sh adds dlaas and JupyterLab.
 */
const SINGLEUSER_BASE = ['jupyterhub==5.5.0', 'ipykernel>=6.29,<8'];

export interface K8sObject {
  readonly kind: string;
  readonly metadata: { readonly name: string };
  readonly data?: Record<string, string>;
  readonly spec?: Record<string, unknown>;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
  };
}

interface PodSpec {
  containers: {
    name: string;
    env?: EnvVar[];
    volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
  }[];
  volumes?: { name: string; configMap?: { name: string }; secret?: { secretName: string } }[];
}

/** A running hub; `stop` stops it, its users' servers and their mounts. */
export interface RunningHub {
  /** The public URL, e.g. `http://127.0.0.1:PORT` (no trailing slash). */
  readonly url: string;
  /** The hub's REST API. */
  readonly api: string;
  readonly work: string;
  readonly logFile: string;
  /** The objects `helm template` rendered. */
  readonly objects: readonly K8sObject[];
  /** A user's auth state, read with the test's observer service (admin:auth_state). */
  authState(user: string): Promise<Record<string, unknown> | null>;
  stop(): Promise<void>;
}

/** Renders helm/dlaas for devlake: the example values with this devlake's addresses. */
export async function renderForDevlake(
  lake: DevlakeStatus,
  set: readonly string[] = []
): Promise<K8sObject[]> {
  const helm = (await run('sh', ['scripts/ensure-helm.sh'])).stdout.trim();
  const scratch = lake.rses.find(r => r.name === lake.scratchRse);
  if (!scratch) {
    throw new Error(`devlake has no scratch RSE ${lake.scratchRse}`);
  }
  const chart = join(REPO, 'helm', 'dlaas');
  const result = await run(helm, [
    'template',
    'hub',
    chart,
    '--namespace',
    'dlaas',
    '-f',
    join(chart, 'examples', 'devlake.yaml'),
    ...[
      `dlaas.instances[0].rucioUrl=${lake.rucio.url}`,
      `dlaas.instances[0].trustedHttpHosts[0]=${new URL(scratch.url).host}`,
      `dlaas.iam.issuer=${lake.idp.issuer}`,
      ...set
    ].flatMap(s => ['--set', s])
  ]);
  return parseAllDocuments(result.stdout)
    .map(doc => doc.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/** The object of this kind and name; throws with what there is. */
export function find(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find(o => o.kind === kind && o.metadata.name === name);
  if (!found) {
    throw new Error(
      `no ${kind} ${name} among ${objects.map(o => `${o.kind}/${o.metadata.name}`).join(', ')}`
    );
  }
  return found;
}

/** The single-user venv: the base image's packages, then the image's install.sh on the wheel. */
async function ensureSingleuserVenv(): Promise<string> {
  const python = await ensureVenv(SINGLEUSER_VENV, SINGLEUSER_BASE);
  const wheel = join(REPO, 'dist', 'dlaas-0.1.0-py3-none-any.whl');
  const script = join(REPO, 'images', 'singleuser', 'install.sh');
  const stamp = join(SINGLEUSER_VENV, '.dlaas-install.sha256');
  const hash = createHash('sha256')
    .update(readFileSync(wheel))
    .update(readFileSync(script))
    .digest('hex');
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== hash) {
    const bin = join(SINGLEUSER_VENV, 'bin');
    // pip keeps an installed dlaas of the same version; the image installs into a fresh one.
    await run(python, ['-m', 'pip', 'uninstall', '--yes', '--quiet', 'dlaas']);
    await run('sh', [script, wheel], {
      env: { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}`, PYTHON: python }
    });
    writeFileSync(stamp, hash);
  }
  return python;
}

/** A ConfigMap's value, or a Secret's decoded from base64; throws when the key is missing. */
export function decoded(object: K8sObject, key: string): string {
  const value = object.data?.[key];
  if (value === undefined) {
    throw new Error(`${object.kind} ${object.metadata.name} has no key ${key}`);
  }
  return object.kind === 'Secret' ? Buffer.from(value, 'base64').toString('utf8') : value;
}

/**
 * Lays out what the hub pod mounts below /usr/local/etc/jupyterhub into `etc`, from the
 * rendered Deployment's volumes (ConfigMaps and Secrets of this release; secrets the admin
 * creates, such as dlaas-iam, are not mounted there), rewriting that mount point in the files.
 */
function layOutHubMounts(objects: readonly K8sObject[], pod: PodSpec, etc: string): void {
  const container = pod.containers.find(c => c.name === 'hub');
  for (const mount of container?.volumeMounts ?? []) {
    if (!mount.mountPath.startsWith(POD_ETC)) {
      continue;
    }
    const volume = pod.volumes?.find(v => v.name === mount.name);
    const source = volume?.configMap
      ? find(objects, 'ConfigMap', volume.configMap.name)
      : volume?.secret
        ? find(objects, 'Secret', volume.secret.secretName)
        : undefined;
    if (!source) {
      continue;
    }
    const target = join(etc, mount.mountPath.slice(POD_ETC.length));
    const keys = mount.subPath ? [mount.subPath] : Object.keys(source.data ?? {});
    for (const key of keys) {
      const file = mount.subPath ? target : join(target, key);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, decoded(source, key).replaceAll(POD_ETC, etc));
    }
  }
}

/** The hub container's environment, resolved as Kubernetes would. */
function hubEnvironment(objects: readonly K8sObject[], pod: PodSpec): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of pod.containers.find(c => c.name === 'hub')?.env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef;
    if (variable.value !== undefined) {
      env[variable.name] = variable.value;
    } else if (variable.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') {
      env[variable.name] = 'dlaas';
    } else if (ref && ref.name === 'dlaas-iam') {
      env[variable.name] = CLIENT_SECRET;
    } else if (ref) {
      env[variable.name] = decoded(find(objects, 'Secret', ref.name), ref.key);
    }
  }
  return env;
}

function localConfig(options: {
  etc: string;
  homes: string;
  companionDir: string;
  ports: { public: number; hub: number; proxyApi: number };
}): string {
  const { etc, homes, companionDir, ports } = options;
  const hub = `http://127.0.0.1:${ports.hub}`;
  return `# z2jh 4.4.0's hub configuration as the chart rendered it, run unchanged ...
import os
__file__ = ${JSON.stringify(join(etc, 'jupyterhub_config.py'))}
with open(__file__) as f:
    exec(compile(f.read(), __file__, "exec"))

# ... then only what a machine without Kubernetes needs.
from jupyterhub.spawner import SimpleLocalProcessSpawner

# User servers are local processes from the single-user venv (what the image holds), with the
# environment KubeSpawner would give the pod; the companion ConfigMap's mount point is a folder.
c.JupyterHub.spawner_class = SimpleLocalProcessSpawner
c.SimpleLocalProcessSpawner.home_dir_template = ${JSON.stringify(join(homes, '{username}'))}
c.Spawner.cmd = [${JSON.stringify(join(SINGLEUSER_VENV, 'bin', 'jupyterhub-singleuser'))}]
c.Spawner.environment = {
    key: value.replace(${JSON.stringify(POD_COMPANION_DIR)}, ${JSON.stringify(companionDir)})
    for key, value in dict(c.KubeSpawner.environment).items()
}
# The pod runs as jovyan; these tests run as root, which Jupyter's server refuses unless told.
c.Spawner.args = ["--ServerApp.allow_root=True"]
# Pods outlive a hub restart; local processes must not outlive the test's hub.
c.JupyterHub.cleanup_servers = True

# The proxy, the hub and the idle culler's hub URL on loopback.
c.ConfigurableHTTPProxy.should_start = True
c.ConfigurableHTTPProxy.command = [${JSON.stringify(join(REPO, 'node_modules', '.bin', 'configurable-http-proxy'))}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:${ports.proxyApi}"
c.JupyterHub.bind_url = "http://127.0.0.1:${ports.public}"
c.JupyterHub.hub_bind_url = "${hub}"
c.JupyterHub.hub_connect_url = "${hub}"
for service in c.JupyterHub.services:
    service["command"] = [arg.replace("http://localhost:8081", "${hub}") for arg in service.get("command", [])]

# The test's observer: reads auth state (to see tokens renewed) as a hub admin could.
c.JupyterHub.services.append({"name": "dlaas-e2e", "api_token": os.environ["DLAAS_E2E_TOKEN"]})
c.JupyterHub.load_roles.append(
    {"name": "dlaas-e2e", "scopes": ["admin:auth_state", "read:users", "servers"], "services": ["dlaas-e2e"]}
)
`;
}

/**
 * Starts the chart's hub for devlake: renders, lays out, starts JupyterHub (which starts the
 * proxy), and waits until its login page is served through the proxy.
 */
export async function startChartHub(
  lake: DevlakeStatus,
  options: { set?: readonly string[]; log?: (line: string) => void } = {}
): Promise<RunningHub> {
  const log = options.log ?? (() => undefined);
  await ensureVenv(HUB_VENV, HUB_REQUIREMENTS, () =>
    log(`Installing ${HUB_REQUIREMENTS.join(', ')} into ${HUB_VENV} ...`)
  );
  await ensureSingleuserVenv();
  const objects = await renderForDevlake(lake, options.set);
  const work = mkdtempSync(join(tmpdir(), 'dlaas-chart-hub-'));
  const etc = join(work, 'etc');
  const homes = join(work, 'home');
  const companionDir = join(work, 'companion');
  mkdirSync(homes);
  mkdirSync(companionDir);
  const deployment = find(objects, 'Deployment', 'hub');
  const pod = (deployment.spec as { template: { spec: PodSpec } }).template.spec;
  layOutHubMounts(objects, pod, etc);
  writeFileSync(
    join(companionDir, 'companion.json'),
    decoded(find(objects, 'ConfigMap', 'dlaas-companion'), 'companion.json')
  );
  const ports = { public: await freePort(), hub: await freePort(), proxyApi: await freePort() };
  writeFileSync(join(work, 'local_config.py'), localConfig({ etc, homes, companionDir, ports }));
  // KubeSpawner loads a kubeconfig when imported; it is never used here.
  const kubeconfig = join(work, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    'apiVersion: v1\nkind: Config\nclusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]\n' +
      'contexts: [{name: none, context: {cluster: none, user: none}}]\ncurrent-context: none\nusers: [{name: none, user: {}}]\n'
  );
  const serviceToken = randomBytes(24).toString('hex');
  // Beside devlake's logs, so that it outlives the test (the hub's, the proxy's, the servers' and
  // their companions' lines).
  const logFile = join(lake.stateDir, 'logs', 'chart-hub.log');
  writeFileSync(logFile, '');
  const out = openSync(logFile, 'a');
  const hub = spawn(join(HUB_VENV, 'bin', 'jupyterhub'), ['-f', join(work, 'local_config.py')], {
    cwd: work,
    detached: true,
    stdio: ['ignore', out, out],
    env: {
      ...process.env,
      ...hubEnvironment(objects, pod),
      PATH: `${join(HUB_VENV, 'bin')}:${process.env['PATH'] ?? ''}`,
      // Kubernetes' service links, which z2jh's configuration reads for the proxy and hub.
      HUB_SERVICE_HOST: '127.0.0.1',
      HUB_SERVICE_PORT: String(ports.hub),
      PROXY_API_SERVICE_HOST: '127.0.0.1',
      PROXY_API_SERVICE_PORT: String(ports.proxyApi),
      PROXY_PUBLIC_SERVICE_HOST: '127.0.0.1',
      PROXY_PUBLIC_SERVICE_PORT: String(ports.public),
      KUBECONFIG: kubeconfig,
      DLAAS_E2E_TOKEN: serviceToken
    }
  });
  const url = `http://127.0.0.1:${ports.public}`;
  const api = `${url}/hub/api`;
  const stop = async (): Promise<void> => {
    if (hub.pid !== undefined) {
      signalGroup(hub.pid, 'SIGTERM');
      for (let i = 0; i < 120 && groupAlive(hub.pid); i++) {
        await sleep(250);
      }
      signalGroup(hub.pid, 'SIGKILL');
    }
    // A server's companion unmounts its FUSE folder when it stops; make sure none stays.
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const point = line.split(' ')[1];
      if (point?.startsWith(homes)) {
        await run('fusermount', ['-uz', point], { allowFailure: true });
      }
    }
    rmSync(work, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    const page = await fetch(`${url}/hub/login`).catch(() => undefined);
    if (page?.ok) {
      break;
    }
    if (i >= 480 || hub.exitCode !== null) {
      const tail = readFileSync(logFile, 'utf8').slice(-3000);
      await stop();
      throw new Error(`The chart's hub did not serve its login page within 120 s:\n${tail}`);
    }
    await sleep(250);
  }
  log(`JupyterHub from the chart at ${url} (log ${logFile})`);
  return {
    url,
    api,
    work,
    logFile,
    objects,
    async authState(user) {
      const answer = await fetch(`${api}/users/${encodeURIComponent(user)}`, {
        headers: { Authorization: `token ${serviceToken}` }
      });
      if (!answer.ok) {
        throw new Error(`GET /users/${user} answered ${answer.status}`);
      }
      return (
        ((await answer.json()) as { auth_state?: Record<string, unknown> | null }).auth_state ??
        null
      );
    },
    stop
  };
}
