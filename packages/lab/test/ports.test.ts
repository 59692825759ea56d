import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { choosePort } from '../src/lab.js';
import { REPO_ROOT } from '../src/processes.js';

describe('choosing JupyterLab’s port', () => {
  it('when the wanted port is taken, then the next free one is chosen and the launcher says so', async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const port = (taken.address() as AddressInfo).port;
    const said: string[] = [];
    try {
      const chosen = await choosePort(port, line => said.push(line));
      expect(chosen).toBeGreaterThan(port);
      expect(said).toEqual([`Port ${port} is taken; JupyterLab uses port ${chosen} instead.`]);
    } finally {
      taken.close();
    }
  });

  it('when the wanted port is free, then it is used without a word; when 0 is wanted, then any free port', async () => {
    const said: string[] = [];
    const any = await choosePort(0, line => said.push(line));
    expect(any).toBeGreaterThan(0);
    expect(await choosePort(any, line => said.push(line))).toBe(any);
    expect(said).toEqual([]);
  });
});

describe('scripts/ensure-debian.sh', () => {
  it('when every package named is installed, then it installs nothing, prints nothing and succeeds', () => {
    const result = spawnSync('sh', [join(REPO_ROOT, 'scripts', 'ensure-debian.sh'), 'dpkg'], {
      encoding: 'utf8'
    });
    expect(result).toMatchObject({ status: 0, stdout: '', stderr: '' });
  });
});
