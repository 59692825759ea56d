import type { Config } from '@dlaas/companion';
import { status, up, type DevlakeStatus } from '@dlaas/devlake';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LabError } from './errors.js';
import { startJupyterLab } from './jupyter.js';
import { freePort, portIsFree } from './processes.js';
import { ensureRKernel } from './rkernel.js';
import {
  builtWheel,
  ensureLabVenv,
  hasLabextension,
  installWheel,
  LAB_VENV,
  sitePackagesPath
} from './venv.js';
import {
  fuseObstacle,
  labCompanionConfig,
  prepareWorkspace,
  scratchDirectory,
  writeCompanionConfig,
  type DatalakeFolder
} from './workspace.js';

/** The port JupyterLab listens on unless told otherwise (or the next free one). */
export const DEFAULT_PORT = 8888;

/** How to start JupyterLab with dlaas; everything is optional. */
export interface LabOptions {
  /** Port to listen on (default 8888); the next free one when taken; 0 for any free port. */
  readonly port?: number;
  /** devlake's state directory and base port, as for `devlake up`. */
  readonly stateDir?: string;
  readonly basePort?: number;
  /**
   * Which lab of this devlake (default `lab`): names its companion configuration
   * `<state>/companion-<name>.json`, its Jupyter directories and OpenID tokens
   * `<state>/jupyter-<name>/`, its log
   * `<state>/logs/jupyter-<name>.log` and its default workspace `<state>/workspace` (`lab`) or
   * `<state>/workspace-<name>`, so that the UI tests' lab and a developer's do not meet.
   */
  readonly name?: string;
  /** Jupyter's root directory (default above). */
  readonly workspace?: string;
  /** Jupyter's token (default random). */
  readonly token?: string;
  /** Install Debian's R and IRkernel when missing, so notebooks can use an R kernel. */
  readonly withR?: boolean;
  /**
   * Load Galata's helper extension (shipped in the jupyterlab package) and expose the application
   * to the page, as Galata's UI tests need; never for a lab people use.
   */
  readonly galata?: boolean;
  /** Where progress lines go (default nowhere). */
  readonly log?: (line: string) => void;
  /**
   * Changes the lab's companion configuration before JupyterLab, and so its companion, starts:
   * the UI tests put a fault proxy in front of devlake's Rucio. Default: none.
   */
  readonly rewriteCompanionConfig?: (config: Config) => Config | Promise<Config>;
}

/** A running JupyterLab with dlaas. */
export interface RunningLab {
  /** `http://127.0.0.1:PORT/` */
  readonly url: string;
  /** The address to open: `http://127.0.0.1:PORT/lab?token=...` */
  readonly labUrl: string;
  readonly token: string;
  readonly port: number;
  /** The devlake it runs against, as `devlake status --json` shows it. */
  readonly devlake: DevlakeStatus;
  /** Where this lab keeps Jupyter's configuration, data, runtime files and OpenID tokens. */
  readonly jupyterDir: string;
  /** Jupyter's root directory, with the folder `datalake` of the files made available. */
  readonly workspace: string;
  /**
   * The workspace's `datalake`: the companion's FUSE mount of the scratch RSE where the machine
   * allows it, else a link to the scratch RSE's storage directory.
   */
  readonly datalake: DatalakeFolder;
  /** The venv JupyterLab runs from. */
  readonly venv: string;
  /** The environment variables JupyterLab was started with on top of this process's own. */
  readonly env: Readonly<Record<string, string>>;
  /** The companion configuration JupyterLab's companion reads (`DLAAS_CONFIG`). */
  readonly companionConfig: string;
  readonly logFile: string;
  /** Whether the installed wheel brought the dlaas JupyterLab extension. */
  readonly hasLabextension: boolean;
  /** Settles when JupyterLab has stopped. */
  readonly exited: Promise<void>;
  /** Stops JupyterLab and its process group (devlake keeps running); safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Brings devlake up, makes sure the JupyterLab venv holds the freshly built dlaas wheel (and an R
 * kernel with `withR`), prepares the workspace and starts JupyterLab on it; resolves once
 * JupyterLab answers.
 */
export async function startLab(options: LabOptions = {}): Promise<RunningLab> {
  const log = options.log ?? (() => undefined);
  const name = options.name ?? 'lab';
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) {
    throw new LabError(`The lab name "${name}" must be lower-case letters, digits and dashes.`);
  }
  const wheel = builtWheel();

  const layout = await up({ stateDir: options.stateDir, basePort: options.basePort }, log);
  const lake = status({ stateDir: layout.stateDir });
  const state = lake.stateDir;

  await ensureLabVenv(log);
  const venv = LAB_VENV;
  await installWheel(wheel, venv, log);

  const jupyterDir = join(state, `jupyter-${name}`);
  const companionConfig = join(state, `companion-${name}.json`);
  const logFile = join(state, 'logs', `jupyter-${name}.log`);
  for (const dir of ['config', 'data', 'runtime']) {
    mkdirSync(join(jupyterDir, dir), { recursive: true });
  }
  mkdirSync(join(state, 'logs'), { recursive: true });
  const env: Record<string, string> = {
    DLAAS_CONFIG: companionConfig,
    // The companion runs on this Node.js, which the repository's tools have checked.
    DLAAS_NODE: process.execPath,
    // Keep the developer's own Jupyter configuration, settings and kernels out of this lab.
    JUPYTER_CONFIG_DIR: join(jupyterDir, 'config'),
    JUPYTER_DATA_DIR: join(jupyterDir, 'data'),
    JUPYTER_RUNTIME_DIR: join(jupyterDir, 'runtime')
  };
  const fullEnv = { ...process.env, ...env };
  if (options.withR) {
    await ensureRKernel(venv, fullEnv, log);
  }

  const workspace = resolve(
    options.workspace ?? join(state, name === 'lab' ? 'workspace' : `workspace-${name}`)
  );
  const scratchDir = scratchDirectory(lake);
  const datalake = prepareWorkspace(workspace, scratchDir, fuseObstacle(jupyterDir));
  log(
    datalake.mode === 'fuse'
      ? `The workspace's datalake folder is the companion's FUSE mount of the scratch RSE (${datalake.path}).`
      : `The workspace's datalake folder links to the scratch RSE's storage, since the companion cannot mount it: ${datalake.reason}`
  );
  const labConfig = labCompanionConfig({
    source: lake.companionConfig,
    scratchDir,
    datalake,
    tokenDir: join(jupyterDir, 'tokens')
  });
  writeCompanionConfig(
    companionConfig,
    options.rewriteCompanionConfig ? await options.rewriteCompanionConfig(labConfig) : labConfig
  );

  const port = await choosePort(options.port ?? DEFAULT_PORT, log);
  const token = options.token ?? randomBytes(24).toString('hex');
  log(`Starting JupyterLab on port ${port} (log in ${logFile}) ...`);
  const server = await startJupyterLab({
    venv,
    port,
    workspace,
    token,
    env: fullEnv,
    logFile,
    extraArgs: options.galata ? galataArgs(venv) : []
  });
  return {
    url: server.url,
    labUrl: `${server.url}lab?token=${token}`,
    token,
    port,
    devlake: lake,
    jupyterDir,
    workspace,
    datalake,
    venv,
    env,
    companionConfig,
    logFile,
    hasLabextension: hasLabextension(venv),
    exited: server.exited,
    stop: server.stop
  };
}

/** The options of `jupyter lab` that Galata's fixtures need (its `configure_jupyter_server`). */
function galataArgs(venv: string): string[] {
  const helpers = sitePackagesPath(venv, join('jupyterlab', 'galata'));
  if (helpers === undefined) {
    throw new LabError(
      `The JupyterLab in ${venv} has no Galata helper extension (jupyterlab/galata); delete ${venv} and try again.`
    );
  }
  return [
    `--LabServerApp.extra_labextensions_path=${helpers}`,
    '--LabApp.expose_app_in_browser=True'
  ];
}

/** `wanted` if it is free, else the next free port above it (saying so); 0: any free port. */
export async function choosePort(wanted: number, log: (line: string) => void): Promise<number> {
  if (wanted === 0) {
    return freePort();
  }
  for (let port = wanted; port < wanted + 100 && port <= 65535; port++) {
    if (await portIsFree(port)) {
      if (port !== wanted) {
        log(`Port ${wanted} is taken; JupyterLab uses port ${port} instead.`);
      }
      return port;
    }
  }
  throw new LabError(
    `Ports ${wanted} to ${wanted + 99} are all taken; choose another with --port.`
  );
}
