import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DevlakeStatus } from '../../packages/devlake/src/lake.js';
import { isListening } from '../../packages/devlake/src/processes.js';
import { RucioRest } from '../../packages/devlake/src/rest.js';
import { devlakeCli, didPath } from './helpers.js';

/** A second lake, empty (--no-seed), on its own ports and state, so the main one is untouched. */
const stateDir = mkdtempSync(join(tmpdir(), 'devlake-lifecycle-'));
/** Its link of the user's companion configuration goes to a folder of its own, not ~/.config. */
const userConfig = join(stateDir, 'user-config');
const env = {
  DEVLAKE_STATE_DIR: stateDir,
  DEVLAKE_BASE_PORT: '18500',
  XDG_CONFIG_HOME: userConfig
};
const marker = { scope: 'user.alice', name: `lifecycle.marker` };

async function statusOf(): Promise<DevlakeStatus> {
  const result = await devlakeCli(['status', '--json'], env);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as DevlakeStatus;
}

function alive(pid: number): boolean {
  try {
    // A zombie has exited; only its parent's bookkeeping remains.
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function alice(status: DevlakeStatus): RucioRest {
  const account = status.accounts.find(a => a.account === 'alice');
  if (!account) {
    throw new Error('no alice');
  }
  return new RucioRest(status.rucio.url, account);
}

afterAll(async () => {
  const status = await statusOf();
  await devlakeCli(['down'], env);
  rmSync(status.dataDir, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
});

describe('devlake up, down and reset', () => {
  it('when up runs on an empty state directory, then every service runs and alice can sign in', async () => {
    const result = await devlakeCli(['up', '--no-seed'], env);
    expect(result.code, result.stderr).toBe(0);
    const status = await statusOf();
    expect(status.running).toBe(true);
    expect(status.rucio.url).toBe('http://127.0.0.1:18502');
    // A JupyterLab with the wheel and no DLAAS_CONFIG finds this lake through the user's file.
    expect(readlinkSync(join(userConfig, 'dlaas', 'companion.json'))).toBe(status.companionConfig);
    expect(result.stdout).toContain(
      `Companion configuration: ${join(userConfig, 'dlaas', 'companion.json')} →`
    );
    const rses = await alice(status).lines<{ rse: string }>('GET', '/rses/');
    expect(rses.map(r => r.rse).sort()).toEqual(status.rses.map(r => r.name).sort());
    await alice(status).request('POST', didPath(marker.scope, marker.name), {
      body: { type: 'CONTAINER' }
    });
  });

  it('when up runs again, then it starts nothing new', async () => {
    const before = (await statusOf()).services.map(s => s.pid);
    const result = await devlakeCli(['up', '--no-seed'], env);
    expect(result.code, result.stderr).toBe(0);
    expect((await statusOf()).services.map(s => s.pid)).toEqual(before);
  });

  it('when down runs, then every process it started is gone and no port answers', async () => {
    const before = await statusOf();
    const pids = before.services.map(s => s.pid).filter((p): p is number => p !== null);
    expect(pids.length).toBe(before.services.length);
    const result = await devlakeCli(['down'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(pids.filter(alive)).toEqual([]);
    const ports = [
      before.postgres.port,
      18502,
      18503,
      ...before.rses.map(r => Number(new URL(r.url).port))
    ];
    for (const port of ports) {
      expect(await isListening(port), `port ${port}`).toBe(false);
    }
    expect((await statusOf()).running).toBe(false);
  });

  it('when up runs after down, then the same data is back', async () => {
    const result = await devlakeCli(['up', '--no-seed'], env);
    expect(result.code, result.stderr).toBe(0);
    const did = await alice(await statusOf()).json<{ type: string }>(
      'GET',
      didPath(marker.scope, marker.name)
    );
    expect(did.type).toBe('CONTAINER');
  });

  it('when reset runs, then the lake starts clean', async () => {
    const result = await devlakeCli(['reset', '--no-seed'], env);
    expect(result.code, result.stderr).toBe(0);
    const status = await statusOf();
    expect(status.running).toBe(true);
    expect(existsSync(join(status.dataDir, 'postgres', 'PG_VERSION'))).toBe(true);
    await expect(
      alice(status).json('GET', didPath(marker.scope, marker.name))
    ).rejects.toMatchObject({ status: 404 });
  });
});

describe('devlake up when something is in the way', () => {
  const blockedState = mkdtempSync(join(tmpdir(), 'devlake-blocked-'));
  let blocker: Server | undefined;

  afterAll(async () => {
    await new Promise(resolvePromise =>
      blocker ? blocker.close(resolvePromise) : resolvePromise(undefined)
    );
    rmSync(blockedState, { recursive: true, force: true });
  });

  it('when a port is taken, then up fails with a sentence naming the port and what to do, and starts nothing', async () => {
    blocker = createServer();
    await new Promise<void>(resolvePromise => blocker?.listen(18602, '127.0.0.1', resolvePromise));
    const result = await devlakeCli(['up'], {
      DEVLAKE_STATE_DIR: blockedState,
      DEVLAKE_BASE_PORT: '18600'
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /Port 18602, which devlake needs for the Rucio server, is already in use by another program/
    );
    expect(result.stderr).toMatch(/--base-port/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await isListening(18601)).toBe(false);
  });

  it('when a dependency is missing and may not be installed, then up names it and the command that installs it', async () => {
    const result = await devlakeCli(['up'], {
      DEVLAKE_STATE_DIR: blockedState,
      DEVLAKE_BASE_PORT: '18700',
      DEVLAKE_INSTALL: 'never',
      DEVLAKE_XROOTD: '/nonexistent/xrootd'
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/XRootD \(Debian package xrootd-server\) is not installed/);
    expect(result.stderr).toMatch(/apt-get install xrootd-server/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('when the command or an option is wrong, then the CLI says so and how to get help', async () => {
    const unknown = await devlakeCli(['upp']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/"upp" is not a devlake command.*--help/);
    const files = await devlakeCli(['seed', '--files', 'many']);
    expect(files.stderr).toMatch(/--files must be a whole number/);
    const port = await devlakeCli(['status', '--base-port', '99']);
    expect(port.stderr).toMatch(/--base-port must be a whole number between 1024 and 65000/);
    const option = await devlakeCli(['status', '--colour']);
    expect(option.stderr).toMatch(/Unknown option '--colour'.*--help/);
  });
});
