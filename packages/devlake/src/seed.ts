import { spawnSync } from 'node:child_process';
import { chownSync, closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Adler32, adler32 } from './adler32.js';
import { createHash } from 'node:crypto';
import {
  CONTAINERS,
  LARGE_FILES_DATASET,
  SCOPES,
  fileContent,
  largeFileChunks,
  largeFilesDataset,
  type DemoDataset,
  type DemoFile
} from './catalogue.js';
import { DEFAULT_USERS as IDP_USERS } from './idp/accounts.js';
import { hashedPath } from './lfn.js';
import { x509Files } from './x509.js';
import type { ServiceUser } from './processes.js';
import { RucioError, RucioRest, didPath, segment } from './rest.js';
import { makeStorageDir, storageUser } from './storage.js';
import {
  ACCOUNTS,
  RSE_PREFIX,
  RSES,
  demoAccount,
  idpIssuer,
  rucioUrl,
  storageRoot,
  transfersUrl,
  type Layout
} from './settings.js';

/** root's quota on every RSE: a petabyte, "unlimited" for a lake on one machine. */
const ROOT_QUOTA = 10 ** 15;

/** Rucio's answers that mean "already there", which seeding treats as done. */
const ALREADY_THERE = new Set([
  'Duplicate',
  'DuplicateRule',
  'DataIdentifierAlreadyExists',
  'FileAlreadyExists',
  'DuplicateContent',
  'AccountAlreadyExists',
  'IdentityAlreadyExists',
  'ScopeAlreadyExists',
  'RSEProtocolPriorityError',
  'RSEProtocolDomainNotSupported'
]);

async function idempotent(action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (
      error instanceof RucioError &&
      error.exceptionClass !== undefined &&
      ALREADY_THERE.has(error.exceptionClass)
    ) {
      return;
    }
    throw error;
  }
}

/** Splits `items` into lists of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(items.slice(i, i + size));
  }
  return out;
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function inParallel<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A signed-in root client for devlake's Rucio. */
export function rootClient(layout: Layout): RucioRest {
  return new RucioRest(rucioUrl(layout), demoAccount('root'));
}

/** Registers the RSEs with their storage protocol, transfer service and distances. */
export async function seedRses(layout: Layout, rucio: RucioRest): Promise<void> {
  for (const rse of RSES) {
    const name = segment(rse.name);
    await idempotent(() =>
      rucio.request('POST', `/rses/${name}`, {
        body: { deterministic: true, volatile: false, rse_type: 'DISK' }
      })
    );
    const attributes: Record<string, string | boolean> = {
      fts: transfersUrl(layout),
      devlake_role: rse.role,
      site: rse.name.split('_')[0] as string
    };
    for (const [key, value] of Object.entries(attributes)) {
      await rucio.request('POST', `/rses/${name}/attr/${segment(key)}`, { body: { value } });
    }
    const port = layout.ports.rses[rse.name] as number;
    await idempotent(() =>
      rucio.request('POST', `/rses/${name}/protocols/http`, {
        body: {
          scheme: 'http',
          hostname: '127.0.0.1',
          port,
          prefix: RSE_PREFIX,
          impl: 'rucio.rse.protocols.webdav.Default',
          domains: {
            lan: { read: 1, write: 1, delete: 1 },
            wan: {
              read: 1,
              write: 1,
              delete: 1,
              third_party_copy_read: 1,
              third_party_copy_write: 1
            }
          }
        }
      })
    );
  }
  for (const source of RSES) {
    for (const destination of RSES) {
      if (source !== destination) {
        await idempotent(() =>
          rucio.request(
            'POST',
            `/rses/${segment(source.name)}/distances/${segment(destination.name)}`,
            { body: { distance: 1 } }
          )
        );
      }
    }
  }
}

/** Creates the demo accounts with their userpass and OIDC identities, quotas and scopes. */
export async function seedAccounts(layout: Layout, rucio: RucioRest): Promise<void> {
  for (const rse of RSES) {
    await rucio.request('POST', `/accounts/root/limits/local/${segment(rse.name)}`, {
      body: { bytes: ROOT_QUOTA }
    });
  }
  for (const account of ACCOUNTS.filter(a => a.account !== 'root')) {
    const name = segment(account.account);
    await idempotent(() =>
      rucio.request('POST', `/accounts/${name}`, { body: { type: 'USER', email: account.email } })
    );
    const existing = await rucio.lines<{ type: string; identity: string }>(
      'GET',
      `/accounts/${name}/identities`
    );
    if (!existing.some(i => i.type === 'USERPASS' && i.identity === account.username)) {
      const token = await rucio.authToken();
      const response = await fetch(`${rucio.baseUrl}/identities/${name}/userpass`, {
        method: 'PUT',
        headers: {
          'X-Rucio-Auth-Token': token,
          'X-Rucio-Username': account.username,
          'X-Rucio-Password': account.password,
          'X-Rucio-Email': account.email
        }
      });
      if (!response.ok) {
        throw new RucioError(
          `adding the userpass identity of ${account.account}: Rucio answered ${response.status}`,
          response.status,
          undefined
        );
      }
    }
    const x509User = x509Files(layout).users[account.account];
    if (x509User) {
      await idempotent(() =>
        rucio.request('POST', `/accounts/${name}/identities`, {
          body: { identity: x509User.dn, authtype: 'X509', email: account.email }
        })
      );
    }
    const oidcUser = IDP_USERS.find(u => u.username === account.account);
    if (oidcUser) {
      await idempotent(() =>
        rucio.request('POST', `/accounts/${name}/identities`, {
          body: {
            identity: `SUB=${oidcUser.sub}, ISS=${idpIssuer(layout)}`,
            authtype: 'OIDC',
            email: account.email
          }
        })
      );
    }
    for (const rse of RSES) {
      const quota = rse.role === 'scratch' ? account.scratchQuotaBytes : 10 * 1024 ** 3;
      if (quota !== null) {
        await rucio.request('POST', `/accounts/${name}/limits/local/${segment(rse.name)}`, {
          body: { bytes: quota }
        });
      }
    }
  }
  for (const { scope, owner } of SCOPES) {
    await idempotent(() =>
      rucio.request('POST', `/accounts/${segment(owner)}/scopes/${segment(scope)}`)
    );
  }
}

/** A file as Rucio registers it: its DID, size and checksums. */
export interface FileRecord {
  readonly scope: string;
  readonly name: string;
  readonly bytes: number;
  readonly adler32: string;
  readonly md5?: string;
}

/** Where a file of `scope` sits in an RSE's storage directory: Rucio's hash path below the prefix. */
export function storagePath(layout: Layout, rse: string, scope: string, name: string): string {
  return join(storageRoot(layout, rse), RSE_PREFIX, hashedPath(scope, name));
}

/** Writes a dataset's files onto its RSEs' storage and returns their Rucio file records. */
function writeFiles(layout: Layout, dataset: DemoDataset): FileRecord[] {
  const records = [];
  for (const file of dataset.files) {
    const content = fileContent(dataset.scope, file);
    for (const rse of dataset.rses) {
      const path = storagePath(layout, rse, dataset.scope, file.name);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
    }
    records.push({
      scope: dataset.scope,
      name: file.name,
      bytes: file.bytes,
      adler32: adler32(content),
      md5: createHash('md5').update(content).digest('hex')
    });
  }
  return records;
}

/**
 * Puts one dataset into the lake: bytes on its site RSEs, replicas registered with checksums,
 * the dataset with its metadata and files attached, and a rule per RSE that keeps it there.
 * Skips a dataset that already holds all its files.
 */
export async function seedDataset(
  layout: Layout,
  rucio: RucioRest,
  dataset: DemoDataset,
  log: (line: string) => void
): Promise<void> {
  if (await isSeeded(rucio, dataset)) {
    return;
  }
  log(
    `  ${dataset.scope}:${dataset.name} (${dataset.files.length} files on ${dataset.rses.join(', ')})`
  );
  await registerDataset(rucio, dataset, writeFiles(layout, dataset));
}

/**
 * True when the dataset exists and holds all its files (closing it then, unless it is a user's, in
 * case an older devlake left it open).
 */
async function isSeeded(rucio: RucioRest, dataset: DemoDataset): Promise<boolean> {
  const path = didPath(dataset.scope, dataset.name);
  try {
    // Rucio fills in an open dataset's length only when asked to count its files.
    const existing = await rucio.json<{ length: number | null; open?: boolean }>('GET', path, {
      query: { dynamic_depth: 'FILE' }
    });
    if (existing.length !== dataset.files.length) {
      return false;
    }
    if (existing.open !== false) {
      await closeUnlessUsers(rucio, dataset, path);
    }
    return true;
  } catch (error) {
    if (error instanceof RucioError && error.status === 404) {
      return false;
    }
    throw error;
  }
}

/**
 * Registers the replicas of `records` (files whose bytes are on the dataset's RSEs now), creates
 * the dataset with its metadata, attaches all its files, closes it unless it is a user's, and adds
 * a rule per RSE that keeps it there, except for benchmark datasets.
 */
async function registerDataset(
  rucio: RucioRest,
  dataset: DemoDataset,
  records: readonly FileRecord[]
): Promise<void> {
  const path = didPath(dataset.scope, dataset.name);
  for (const rse of dataset.rses) {
    await inParallel(chunks(records, 1000), 3, batch =>
      idempotent(() => rucio.request('POST', '/replicas/', { body: { rse, files: batch } }))
    );
  }
  await idempotent(() => rucio.request('POST', path, { body: { type: 'DATASET' } }));
  await inParallel(chunks(dataset.files, 1000), 3, batch =>
    idempotent(() =>
      rucio.request('POST', `${path}/dids`, {
        body: { dids: batch.map(({ name }) => ({ scope: dataset.scope, name })) }
      })
    )
  );
  if (Object.keys(dataset.meta).length > 0) {
    await rucio.request('POST', `${path}/meta`, { body: { meta: dataset.meta } });
  }
  await closeUnlessUsers(rucio, dataset, path);
  // Benchmark datasets get no rule: a rule on a million files means a million locks, and no
  // reaper runs in devlake to remove unprotected replicas.
  for (const rse of dataset.scope === 'bench' ? [] : dataset.rses) {
    await idempotent(() =>
      rucio.request('POST', '/rules/', {
        body: {
          dids: [{ scope: dataset.scope, name: dataset.name }],
          account: 'root',
          copies: 1,
          rse_expression: rse,
          grouping: 'DATASET',
          comment: 'devlake: keeps the demo data on its site disk'
        }
      })
    );
  }
}

/** Sizes of the benchmark dataset of large files; see {@link seedLargeFiles}. */
export interface LargeFilesOptions {
  /** Dataset name in the `bench` scope (default `large_files`). */
  readonly name?: string;
  /** Number of files. */
  readonly files: number;
  /** Size of each file in bytes. */
  readonly bytes: number;
}

/**
 * Seeds a benchmark dataset of large files, `bench:large_files` unless named otherwise: each
 * file's bytes ({@link largeFileChunks}) written straight into the site disk's storage directory at
 * Rucio's hash path, adler32 and md5 summed on the way, replicas registered as root, the dataset
 * closed. Like the other benchmark datasets it gets no rule. Files already registered are not
 * written again, and a dataset that holds all its files is left alone. Resolves with the dataset's
 * DID and how many files this call wrote.
 */
export async function seedLargeFiles(
  layout: Layout,
  rucio: RucioRest,
  options: LargeFilesOptions,
  log: (line: string) => void = () => undefined
): Promise<{ did: string; written: number }> {
  const dataset = largeFilesDataset(
    options.name ?? LARGE_FILES_DATASET,
    options.files,
    options.bytes
  );
  const did = `${dataset.scope}:${dataset.name}`;
  if (await isSeeded(rucio, dataset)) {
    return { did, written: 0 };
  }
  log(
    `  ${did} (${dataset.files.length} files of ${options.bytes} bytes on ${dataset.rses.join(', ')})`
  );
  const owner = storageUser();
  const records: FileRecord[] = [];
  for (const file of dataset.files) {
    if (!(await isRegistered(rucio, dataset.scope, file.name))) {
      const paths = dataset.rses.map(rse => storagePath(layout, rse, dataset.scope, file.name));
      records.push(writeLargeFile(paths, dataset.scope, file, owner));
    }
  }
  await registerDataset(rucio, dataset, records);
  return { did, written: records.length };
}

async function isRegistered(rucio: RucioRest, scope: string, name: string): Promise<boolean> {
  try {
    await rucio.request('GET', didPath(scope, name));
    return true;
  } catch (error) {
    if (error instanceof RucioError && error.status === 404) {
      return false;
    }
    throw error;
  }
}

/** Writes one large file at `paths`, a MiB at a time, and returns its record with both checksums. */
function writeLargeFile(
  paths: readonly string[],
  scope: string,
  file: DemoFile,
  owner: ServiceUser | undefined
): FileRecord {
  const sum = new Adler32();
  const md5 = createHash('md5');
  const fds = paths.map(path => {
    makeStorageDir(dirname(path), owner);
    return openSync(path, 'w', 0o644);
  });
  try {
    for (const chunk of largeFileChunks(scope, file.name, file.bytes)) {
      sum.update(chunk);
      md5.update(chunk);
      for (const fd of fds) {
        writeSync(fd, chunk);
      }
    }
  } finally {
    for (const fd of fds) {
      closeSync(fd);
    }
  }
  if (owner) {
    for (const path of paths) {
      chownSync(path, owner.uid, owner.gid);
    }
  }
  return { scope, name: file.name, bytes: file.bytes, adler32: sum.hex(), md5: md5.digest('hex') };
}

/**
 * Closes a dataset of an experiment's scope, as published data is: Rucio then records its file
 * count and size, which searches show. Users' own datasets (`user.*`) stay open, as work in
 * progress does (their sizes show in their details, counted on demand).
 */
async function closeUnlessUsers(
  rucio: RucioRest,
  dataset: DemoDataset,
  path: string
): Promise<void> {
  if (dataset.scope.startsWith('user.')) {
    return;
  }
  await rucio.request('PUT', `${path}/status`, { body: { open: false } });
}

/** Seeds everything: RSEs, accounts, scopes and the demo containers, datasets and files. */
export async function seedAll(
  layout: Layout,
  user: ServiceUser | undefined,
  log: (line: string) => void
): Promise<void> {
  const rucio = rootClient(layout);
  log('Seeding RSEs, accounts and scopes ...');
  await seedRses(layout, rucio);
  await seedAccounts(layout, rucio);
  log('Seeding demo data ...');
  for (const container of CONTAINERS) {
    for (const dataset of container.datasets) {
      await seedDataset(layout, rucio, dataset, log);
    }
    const path = `/dids/${segment(container.scope)}/${segment(container.name)}`;
    await idempotent(() => rucio.request('POST', path, { body: { type: 'CONTAINER' } }));
    await idempotent(() =>
      rucio.request('POST', `${path}/dids`, {
        body: { dids: container.datasets.map(d => ({ scope: d.scope, name: d.name })) }
      })
    );
    if (Object.keys(container.meta).length > 0) {
      await rucio.request('POST', `${path}/meta`, { body: { meta: container.meta } });
    }
  }
  giveStorageTo(layout, user);
}

/** Hands the site disks' files to the storage service's user, so that XRootD can manage them. */
export function giveStorageTo(layout: Layout, user: ServiceUser | undefined): void {
  if (!user) {
    return;
  }
  for (const rse of RSES) {
    spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, storageRoot(layout, rse.name)]);
  }
}
