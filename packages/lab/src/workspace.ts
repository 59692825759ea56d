import type { Config } from '@dlaas/companion';
import type { DevlakeStatus } from '@dlaas/devlake';
import {
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync
} from 'node:fs';
import { dirname, join } from 'node:path';
import { LabError } from './errors.js';

/** Name of the link in the workspace that leads to the scratch RSE's files. */
export const DATALAKE_LINK = 'datalake';

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
 * Creates the workspace (Jupyter's root directory) with the link `datalake` to `scratchDir`, so
 * that the file browser and kernels reach the files made available. Creates `scratchDir` too when
 * the lake has not made anything available yet, owned like its parent (the storage's user).
 * Returns the path of the link.
 */
export function prepareWorkspace(workspace: string, scratchDir: string): string {
  mkdirSync(workspace, { recursive: true });
  if (!existsSync(scratchDir)) {
    const owner = statSync(dirname(scratchDir));
    mkdirSync(scratchDir, { mode: 0o755 });
    if (process.getuid?.() === 0) {
      chownSync(scratchDir, owner.uid, owner.gid);
    }
  }
  const link = join(workspace, DATALAKE_LINK);
  const existing = lstatSync(link, { throwIfNoEntry: false });
  if (existing?.isSymbolicLink()) {
    if (readlinkSync(link) === scratchDir) {
      return link;
    }
    unlinkSync(link);
  } else if (existing !== undefined) {
    throw new LabError(
      `${link} exists and is not a link; move it away so that the launcher can link it to the data lake's scratch storage.`
    );
  }
  symlinkSync(scratchDir, link, 'dir');
  return link;
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

/** Where a lab's companion configuration comes from and what it changes. */
export interface LabCompanionConfig {
  /** devlake's companion configuration. */
  readonly source: string;
  /** The file to write. */
  readonly target: string;
  /** The scratch RSE's directory, and the workspace's link to it that replaces it in paths. */
  readonly scratchDir: string;
  readonly localDir: string;
  /** Where the lab's companion keeps OpenID tokens. */
  readonly tokenDir: string;
}

/**
 * Writes the lab's companion configuration: devlake's with the scratch storage's paths seen
 * through the workspace's link and the lab's own token files. Readable by its owner only (it
 * holds the demo accounts' passwords).
 */
export function writeLabCompanionConfig(files: LabCompanionConfig): void {
  if (!existsSync(files.source)) {
    throw new LabError(
      `devlake has written no companion configuration at ${files.source}; run "npm run devlake -- up" and try again.`
    );
  }
  const config = JSON.parse(readFileSync(files.source, 'utf8')) as Config;
  const rewritten = withTokenDirectory(
    withLocalDirectory(config, files.scratchDir, files.localDir),
    files.tokenDir
  );
  writeFileSync(files.target, JSON.stringify(rewritten, null, 2) + '\n', { mode: 0o600 });
}
