import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { adler32 } from './adler32.js';
import { createHash } from 'node:crypto';
import { CONTAINERS, SCOPES, fileContent, type DemoDataset } from './catalogue.js';
import { DEFAULT_USERS as IDP_USERS } from './idp/accounts.js';
import { hashedPath } from './lfn.js';
import { x509Files } from './x509.js';
import type { ServiceUser } from './processes.js';
import { RucioError, RucioRest, segment } from './rest.js';
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

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(items.slice(i, i + size));
  }
  return out;
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function inParallel<T>(
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

/** Writes a dataset's files onto its RSEs' storage and returns their Rucio file records. */
function writeFiles(
  layout: Layout,
  dataset: DemoDataset
): { scope: string; name: string; bytes: number; adler32: string; md5: string }[] {
  const records = [];
  for (const file of dataset.files) {
    const content = fileContent(dataset.scope, file.name, file.bytes);
    for (const rse of dataset.rses) {
      const path = join(storageRoot(layout, rse), RSE_PREFIX, hashedPath(dataset.scope, file.name));
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
  const path = `/dids/${segment(dataset.scope)}/${segment(dataset.name)}`;
  try {
    // Rucio fills in an open dataset's length only when asked to count its files.
    const existing = await rucio.json<{ length: number | null; open?: boolean }>('GET', path, {
      query: { dynamic_depth: 'FILE' }
    });
    if (existing.length === dataset.files.length) {
      if (existing.open !== false) {
        await closeUnlessUsers(rucio, dataset, path);
      }
      return;
    }
  } catch (error) {
    if (!(error instanceof RucioError && error.status === 404)) {
      throw error;
    }
  }
  log(
    `  ${dataset.scope}:${dataset.name} (${dataset.files.length} files on ${dataset.rses.join(', ')})`
  );
  const records = writeFiles(layout, dataset);
  for (const rse of dataset.rses) {
    await inParallel(chunks(records, 1000), 3, batch =>
      idempotent(() => rucio.request('POST', '/replicas/', { body: { rse, files: batch } }))
    );
  }
  await idempotent(() => rucio.request('POST', path, { body: { type: 'DATASET' } }));
  await inParallel(chunks(records, 1000), 3, batch =>
    idempotent(() =>
      rucio.request('POST', `${path}/dids`, {
        body: { dids: batch.map(({ scope, name }) => ({ scope, name })) }
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
