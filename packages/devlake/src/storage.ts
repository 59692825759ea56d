import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { serviceUser } from './dependencies.js';
import { ownedDir, startService, type ServiceUser } from './processes.js';
import { RSE_PREFIX, RSES, storageRoot, type Layout } from './settings.js';

/** The user XRootD runs as, who must own what is put into storage: `xrootd` when devlake runs as root. */
export function storageUser(): ServiceUser | undefined {
  return serviceUser('xrootd');
}

/**
 * Creates `dir` in an RSE's storage directory, with its missing parents, and gives every directory
 * it creates to XRootD's user, so that XRootD may write and delete there as well.
 */
export function makeStorageDir(dir: string, owner: ServiceUser | undefined): void {
  const first = mkdirSync(dir, { recursive: true });
  if (!owner || first === undefined) {
    return;
  }
  for (let created = dir; ; created = dirname(created)) {
    chownSync(created, owner.uid, owner.gid);
    if (created === first || created === dirname(created)) {
      return;
    }
  }
}

/** Service name of an RSE's XRootD instance. */
export function storageServiceName(rse: string): string {
  return `xrootd-${rse.toLowerCase()}`;
}

/**
 * XRootD's configuration for one RSE: one port serving root:// and http(s)/WebDAV, files under the
 * RSE's storage root, adler32 checksums, and only local clients.
 */
export function xrootdConfig(root: string, workDir: string, port: number): string {
  return [
    `xrd.port ${port}`,
    `xrd.protocol XrdHttp:${port} libXrdHttp.so`,
    'xrd.allow host localhost',
    `all.adminpath ${workDir}/admin`,
    `all.pidpath ${workDir}/run`,
    `oss.localroot ${root}`,
    'all.export /',
    'xrootd.chksum adler32',
    ''
  ].join('\n');
}

/** Starts one XRootD per RSE, each serving its own directory over HTTP/WebDAV. */
export async function startStorage(
  layout: Layout,
  xrootd: string,
  user: ServiceUser | undefined
): Promise<void> {
  for (const rse of RSES) {
    const port = layout.ports.rses[rse.name] as number;
    const root = storageRoot(layout, rse.name);
    const workDir = join(layout.dataDir, 'xrootd', rse.name);
    for (const dir of [
      root,
      join(root, RSE_PREFIX),
      workDir,
      join(workDir, 'admin'),
      join(workDir, 'run')
    ]) {
      ownedDir(dir, user);
    }
    const config = join(workDir, 'xrootd.cfg');
    writeFileSync(config, xrootdConfig(root, workDir, port));
    await startService(layout, {
      name: storageServiceName(rse.name),
      title: `the storage of ${rse.name} (XRootD)`,
      command: xrootd,
      args: ['-c', config, '-n', rse.name.toLowerCase()],
      cwd: workDir,
      user,
      port
    });
  }
}
