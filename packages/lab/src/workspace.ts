import { mountObstacle, type Config } from '@dlaas/companion';
import type { DevlakeStatus } from '@dlaas/devlake';
import {
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync
} from 'node:fs';
import { dirname, join } from 'node:path';
import { LabError } from './errors.js';

/** Name of the workspace's folder with the scratch RSE's files. */
export const DATALAKE_FOLDER = 'datalake';

/** How the workspace's `datalake` folder shows the files made available. */
export type DatalakeFolder =
  | {
      /**
       * An empty folder that the companion mounts (FUSE): read-only,
       * `<scope>/<dataset>/<file name with / as folders>`.
       */
      readonly mode: 'fuse';
      readonly path: string;
    }
  | {
      /** A link to the scratch RSE's storage directory, in Rucio's hashed layout. */
      readonly mode: 'link';
      readonly path: string;
      /** Why the folder is not a FUSE mount (the companion's sentence). */
      readonly reason: string;
    };

/**
 * The directory where devlake's scratch RSE keeps Rucio's deterministic layout
 * (`<dataDir>/storage/LAKE_SCRATCHDISK/rucio`): what "make available" fills.
 */
export function scratchDirectory(lake: DevlakeStatus): string {
  const scratch = lake.rses.find(rse => rse.role === 'scratch');
  if (scratch === undefined) {
    throw new LabError(
      `devlake in ${lake.stateDir} has no scratch RSE; run "npm run devlake -- reset" to recreate it.`
    );
  }
  return join(scratch.directory, scratch.prefix).replace(/\/+$/, '');
}

/**
 * Why this machine cannot FUSE-mount a folder, as the companion would say it, or null when it
 * can: the companion's own check (`check`), run on an empty folder made for it in `near`, so
 * that only the machine (Linux, /dev/fuse, fusermount, libfuse2) is asked about, not the
 * workspace.
 */
export function fuseObstacle(
  near: string,
  check: (mountPoint: string) => string | null = mountObstacle
): string | null {
  mkdirSync(near, { recursive: true });
  const probe = mkdtempSync(join(near, '.fuse-probe-'));
  try {
    return check(probe);
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/**
 * Creates the workspace (Jupyter's root directory) with its `datalake` folder, so that the file
 * browser and kernels reach the files made available. With `obstacle` null (the machine can
 * FUSE-mount) that is an empty folder for the companion to mount, replacing a link of an earlier
 * start; a mount a killed companion left is kept (the companion clears it). Otherwise it is a link
 * to `scratchDir` (created when the lake has made nothing available yet, owned like its parent,
 * the storage's user), replacing an empty folder of an earlier start. Throws a {@link LabError}
 * when `datalake` holds something of the user's, or a live mount.
 */
export function prepareWorkspace(
  workspace: string,
  scratchDir: string,
  obstacle: string | null
): DatalakeFolder {
  mkdirSync(workspace, { recursive: true });
  const path = join(workspace, DATALAKE_FOLDER);
  const existing = entryAt(path);
  if (existing.kind === 'mounted') {
    throw new LabError(
      `${path} is mounted already, probably by the companion of a JupyterLab that still runs on this workspace; stop that JupyterLab (or run "fusermount -u ${path}") and start again.`
    );
  }
  if (obstacle === null) {
    switch (existing.kind) {
      case 'link':
        unlinkSync(path);
        mkdirSync(path, { mode: 0o755 });
        break;
      case 'missing':
        mkdirSync(path, { mode: 0o755 });
        break;
      case 'folder':
        if (!existing.empty) {
          throw new LabError(
            `${path} is a folder with files of its own; move them away so that the companion can mount the data lake there.`
          );
        }
        break;
      case 'stale-mount':
        break;
      case 'other':
        throw new LabError(
          `${path} exists and is not a folder; move it away so that the companion can mount the data lake there.`
        );
    }
    return { mode: 'fuse', path };
  }

  if (!existsSync(scratchDir)) {
    const owner = statSync(dirname(scratchDir));
    mkdirSync(scratchDir, { mode: 0o755 });
    if (process.getuid?.() === 0) {
      chownSync(scratchDir, owner.uid, owner.gid);
    }
  }
  const linked: DatalakeFolder = { mode: 'link', path, reason: obstacle };
  switch (existing.kind) {
    case 'link':
      if (existing.target === scratchDir) {
        return linked;
      }
      unlinkSync(path);
      break;
    case 'folder':
      if (!existing.empty) {
        throw new LabError(
          `${path} exists and is not a link; move it away so that the launcher can link it to the data lake's scratch storage.`
        );
      }
      rmdirSync(path);
      break;
    case 'stale-mount':
      throw new LabError(
        `${path} is still mounted by a companion that has stopped; run "fusermount -u ${path}" and start again.`
      );
    case 'other':
      throw new LabError(
        `${path} exists and is not a link; move it away so that the launcher can link it to the data lake's scratch storage.`
      );
    case 'missing':
      break;
  }
  symlinkSync(scratchDir, path, 'dir');
  return linked;
}

/**
 * The companion configuration `config` with every local path under `scratchDir` moved to the
 * same place under `localDir` (the workspace's link), so that the paths the panel shows and
 * hands to notebooks are inside Jupyter's root.
 */
export function withLocalDirectory(config: Config, scratchDir: string, localDir: string): Config {
  const from = `${scratchDir.replace(/\/+$/, '')}/`;
  const to = `${localDir.replace(/\/+$/, '')}/`;
  const move = (path: string): string => {
    const slashed = path.endsWith('/') ? path : `${path}/`;
    if (!slashed.startsWith(from)) {
      return path;
    }
    const moved = to + slashed.slice(from.length);
    return path.endsWith('/') ? moved : moved.slice(0, -1);
  };
  return {
    ...config,
    instances: config.instances.map(instance =>
      instance.paths?.mode === 'prefix'
        ? {
            ...instance,
            paths: {
              ...instance.paths,
              mappings: instance.paths.mappings.map(mapping => ({
                ...mapping,
                localPrefix: move(mapping.localPrefix)
              }))
            }
          }
        : instance
    )
  };
}

/**
 * The companion configuration `config` with the default instance (`defaultInstance`, else the
 * first) in FUSE mode, mounted at `mountPoint`, when it reads devlake's scratch storage (one of
 * its prefix mappings leads into `scratchDir`); those mappings stay as the fallback for when the
 * folder cannot be mounted. The other instances keep their mappings: a mount point serves one
 * instance, and one data lake folder is what a user's server has.
 */
export function withFuseMount(config: Config, scratchDir: string, mountPoint: string): Config {
  const byDefault = config.defaultInstance ?? config.instances[0]?.name;
  const scratch = `${scratchDir.replace(/\/+$/, '')}/`;
  return {
    ...config,
    instances: config.instances.map(instance =>
      instance.name === byDefault &&
      instance.paths?.mode === 'prefix' &&
      instance.paths.mappings.some(m => `${m.localPrefix.replace(/\/+$/, '')}/`.startsWith(scratch))
        ? {
            ...instance,
            paths: { mode: 'fuse', mountPoint, mappings: instance.paths.mappings }
          }
        : instance
    )
  };
}

/**
 * The companion configuration `config` with the tokens of every device-flow instance kept in
 * `tokenDir` (as `<instance>.json`), so that each lab has its own OpenID sessions.
 */
export function withTokenDirectory(config: Config, tokenDir: string): Config {
  return {
    ...config,
    instances: config.instances.map(instance =>
      instance.auth.method === 'device'
        ? {
            ...instance,
            auth: { ...instance.auth, tokenFile: join(tokenDir, `${instance.name}.json`) }
          }
        : instance
    )
  };
}

/** Name of the workspace's folder that downloads go to (see {@link withDownloadDirectory}). */
export const DOWNLOADS_FOLDER = 'datalake-downloads';

/**
 * The companion configuration `config` with every instance that names no `downloadDir`
 * downloading into `downloadDir`: the lab's workspace (Jupyter's root, which is not the home
 * folder of the user running it, as it is on a hub), so that the file browser shows downloads.
 */
export function withDownloadDirectory(config: Config, downloadDir: string): Config {
  return {
    ...config,
    instances: config.instances.map(instance =>
      instance.downloadDir === undefined ? { ...instance, downloadDir } : instance
    )
  };
}

/** Where a lab's companion configuration comes from and what it changes. */
export interface LabCompanionConfig {
  /** devlake's companion configuration. */
  readonly source: string;
  /** The file to write. */
  readonly target: string;
  /** The scratch RSE's storage directory, which devlake's prefix mappings lead into. */
  readonly scratchDir: string;
  /** The workspace's `datalake` folder (see {@link prepareWorkspace}). */
  readonly datalake: DatalakeFolder;
  /** Where the lab's companion keeps OpenID tokens. */
  readonly tokenDir: string;
}

/**
 * Writes the lab's companion configuration ({@link labCompanionConfig}). Readable by its owner
 * only (it holds the demo accounts' passwords).
 */
export function writeLabCompanionConfig(files: LabCompanionConfig): void {
  writeCompanionConfig(files.target, labCompanionConfig(files));
}

/**
 * The lab's companion configuration: devlake's, with the default instance's files in the
 * workspace's `datalake` folder (a FUSE mount; or, through the link, the scratch storage's paths
 * of every instance), downloads in the workspace's `datalake-downloads`, and the lab's own token
 * files.
 */
export function labCompanionConfig(files: Omit<LabCompanionConfig, 'target'>): Config {
  if (!existsSync(files.source)) {
    throw new LabError(
      `devlake has written no companion configuration at ${files.source}; run "npm run devlake -- up" and try again.`
    );
  }
  const config = JSON.parse(readFileSync(files.source, 'utf8')) as Config;
  const placed =
    files.datalake.mode === 'fuse'
      ? withFuseMount(config, files.scratchDir, files.datalake.path)
      : withLocalDirectory(config, files.scratchDir, files.datalake.path);
  return withDownloadDirectory(
    withTokenDirectory(placed, files.tokenDir),
    join(dirname(files.datalake.path), DOWNLOADS_FOLDER)
  );
}

/** Writes a companion configuration to `target`, readable by its owner only. */
export function writeCompanionConfig(target: string, config: Config): void {
  writeFileSync(target, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
}

/** What is at a path, as far as {@link prepareWorkspace} cares. */
type Entry =
  | { kind: 'missing' }
  | { kind: 'link'; target: string }
  | { kind: 'folder'; empty: boolean }
  /** A folder with a file system of its own mounted on it. */
  | { kind: 'mounted' }
  /** A FUSE mount whose process is gone: every access fails with ENOTCONN. */
  | { kind: 'stale-mount' }
  | { kind: 'other' };

function entryAt(path: string): Entry {
  let stat;
  try {
    stat = lstatSync(path, { throwIfNoEntry: false });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTCONN') {
      return { kind: 'stale-mount' };
    }
    throw error;
  }
  if (stat === undefined) {
    return { kind: 'missing' };
  }
  if (stat.isSymbolicLink()) {
    return { kind: 'link', target: readlinkSync(path) };
  }
  if (!stat.isDirectory()) {
    return { kind: 'other' };
  }
  if (stat.dev !== statSync(dirname(path)).dev) {
    return { kind: 'mounted' };
  }
  return { kind: 'folder', empty: readdirSync(path).length === 0 };
}
