import type { Config } from '@dlaas/companion';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LabError } from '../src/errors.js';
import { prepareWorkspace, withLocalDirectory, withTokenDirectory } from '../src/workspace.js';

const SCRATCH = '/lake/data/storage/LAKE_SCRATCHDISK/rucio';

function instance(name: string, localPrefix: string): Config['instances'][number] {
  return {
    name,
    rucioUrl: 'http://127.0.0.1:18402',
    auth: { method: 'userpass', username: 'alice', password: 'secret' },
    scratchRse: 'LAKE_SCRATCHDISK',
    paths: {
      mode: 'prefix',
      mappings: [{ pfnPrefix: 'http://127.0.0.1:18413/rucio/', localPrefix }]
    }
  };
}

describe('the lab’s companion configuration', () => {
  it('when a local prefix lies in the scratch directory, then it is moved below the workspace link, keeping its trailing slash or not', () => {
    const config: Config = {
      instances: [
        instance('a', `${SCRATCH}/`),
        instance('b', SCRATCH),
        instance('c', `${SCRATCH}/user/alice/`),
        instance('d', '/elsewhere/rucio/'),
        instance('e', `${SCRATCH}-other/`),
        { ...instance('f', '/x'), paths: { mode: 'none' } }
      ]
    };
    const moved = withLocalDirectory(config, SCRATCH, '/ws/datalake/');
    const prefixes = moved.instances.map(i =>
      i.paths?.mode === 'prefix' ? i.paths.mappings[0]?.localPrefix : i.paths?.mode
    );
    expect(prefixes).toEqual([
      '/ws/datalake/',
      '/ws/datalake',
      '/ws/datalake/user/alice/',
      '/elsewhere/rucio/',
      `${SCRATCH}-other/`,
      'none'
    ]);
    expect(config.instances[0]?.paths).toMatchObject({
      mappings: [{ localPrefix: `${SCRATCH}/` }]
    });
  });

  it('when an instance signs in with the device flow, then its tokens go to the lab’s token directory, and other instances are left alone', () => {
    const device = {
      ...instance('devlake-oidc', SCRATCH),
      auth: {
        method: 'device' as const,
        issuer: 'http://127.0.0.1:18404',
        clientId: 'dlaas',
        tokenFile: '/lake/companion-tokens/devlake-oidc.json'
      }
    };
    const config: Config = { instances: [instance('devlake', SCRATCH), device] };
    const result = withTokenDirectory(config, '/lake/jupyter-lab/tokens');
    expect(result.instances[0]).toEqual(config.instances[0]);
    expect(result.instances[1]?.auth).toEqual({
      ...device.auth,
      tokenFile: '/lake/jupyter-lab/tokens/devlake-oidc.json'
    });
  });
});

describe('the workspace', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'dlaas-lab-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('when the workspace is prepared, then it links datalake to the scratch directory, creating that directory if the lake has none yet', () => {
    const scratch = join(dir, 'storage', 'LAKE_SCRATCHDISK', 'rucio');
    mkdirSync(join(dir, 'storage', 'LAKE_SCRATCHDISK'), { recursive: true });
    const link = prepareWorkspace(join(dir, 'ws'), scratch);
    expect(link).toBe(join(dir, 'ws', 'datalake'));
    expect(readlinkSync(link)).toBe(scratch);
    expect(statSync(scratch).isDirectory()).toBe(true);
    // A second start keeps the link as it is.
    expect(prepareWorkspace(join(dir, 'ws'), scratch)).toBe(link);
    expect(readlinkSync(link)).toBe(scratch);
  });

  it('when datalake links elsewhere, then it is relinked; when it is a real folder, then the launcher refuses with a sentence', () => {
    const scratch = join(dir, 'scratch');
    mkdirSync(scratch);
    mkdirSync(join(dir, 'ws'));
    symlinkSync(join(dir, 'old'), join(dir, 'ws', 'datalake'));
    prepareWorkspace(join(dir, 'ws'), scratch);
    expect(readlinkSync(join(dir, 'ws', 'datalake'))).toBe(scratch);

    mkdirSync(join(dir, 'ws2', 'datalake'), { recursive: true });
    writeFileSync(join(dir, 'ws2', 'datalake', 'notes.txt'), 'mine');
    expect(() => prepareWorkspace(join(dir, 'ws2'), scratch)).toThrow(LabError);
    expect(() => prepareWorkspace(join(dir, 'ws2'), scratch)).toThrow(
      /is not a link; move it away/
    );
    expect(lstatSync(join(dir, 'ws2', 'datalake')).isDirectory()).toBe(true);
  });
});
