import type { AuthStatus, Availability, ErrorResponse, MakeAvailableResponse } from '@dlaas/api';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devlake } from '../devlake/helpers.js';
import { linkUserConfig } from '../../packages/devlake/src/userconfig.js';
import { builtWheel, ensureLabVenv, installWheel, LAB_VENV } from '../../packages/lab/src/venv.js';
import { freePort, groupAlive, run, signalGroup } from '../support/processes.js';

/**
 * The wheel that `npm run build:python` writes, installed into a real JupyterLab and reached
 * through the real jupyter-server-proxy, with the companion talking to the running devlake.
 */

const LAB_PYTHON = join(LAB_VENV, 'bin', 'python');
const DID = 'cta:prod5.gamma_onSource';
const TOKEN = randomBytes(24).toString('hex');

let scratch: string;
let base: string;
let server: ChildProcess | undefined;
/** Everything the Jupyter server and the companion (which writes to Jupyter's stderr) logged. */
const serverLog: string[] = [];
/** The environment of the Jupyter server, for the `jupyter` commands that inspect it. */
let labEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  await ensureLabVenv();
  await installWheel(builtWheel());

  scratch = mkdtempSync(join(tmpdir(), 'dlaas-proxy-'));
  for (const dir of ['root', 'tmp', 'config', 'data', 'runtime']) {
    mkdirSync(join(scratch, dir));
  }
  // No DLAAS_CONFIG: the companion reads the user's ~/.config/dlaas/companion.json, which
  // `devlake up` links to devlake's (here under a config folder of the test's own).
  linkUserConfig(devlake.companionConfig, { XDG_CONFIG_HOME: join(scratch, 'xdg') });
  labEnv = {
    ...process.env,
    DLAAS_CONFIG: undefined,
    XDG_CONFIG_HOME: join(scratch, 'xdg'),
    // jupyter-server-proxy makes the companion's socket folder under the temporary directory:
    // one of our own, so that afterAll removes whatever is left of it.
    TMPDIR: join(scratch, 'tmp'),
    // Keep the developer's own Jupyter configuration, cookie secret and data out of the test.
    JUPYTER_CONFIG_DIR: join(scratch, 'config'),
    JUPYTER_DATA_DIR: join(scratch, 'data'),
    JUPYTER_RUNTIME_DIR: join(scratch, 'runtime')
  };
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(
    join(LAB_VENV, 'bin', 'jupyter'),
    [
      'server',
      '--no-browser',
      '--ServerApp.open_browser=False',
      '--ServerApp.ip=127.0.0.1',
      `--ServerApp.port=${port}`,
      '--ServerApp.port_retries=0',
      `--IdentityProvider.token=${TOKEN}`,
      `--ServerApp.root_dir=${join(scratch, 'root')}`,
      ...(process.getuid?.() === 0 ? ['--allow-root'] : [])
    ],
    // Its own process group, so that afterAll stops the companion it starts as well.
    { env: labEnv, cwd: join(scratch, 'root'), detached: true, stdio: ['ignore', 'pipe', 'pipe'] }
  );
  for (const stream of [server.stdout, server.stderr]) {
    stream?.on('data', (chunk: Buffer) => serverLog.push(chunk.toString()));
  }
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.exitCode !== null || server.signalCode !== null) {
      throw new Error(`jupyter server stopped at start-up:\n${serverLog.join('')}`);
    }
    const status = await fetch(`${base}/api/status`, {
      headers: { Authorization: `token ${TOKEN}` }
    }).catch(() => undefined);
    if (status?.ok) {
      break;
    }
    if (Date.now() > deadline) {
      throw new Error(`jupyter server did not answer within 60 s:\n${serverLog.join('')}`);
    }
    await sleep(250);
  }
});

afterAll(async () => {
  const pgid = server?.pid;
  if (server && pgid !== undefined) {
    const exited =
      server.exitCode !== null || server.signalCode !== null
        ? Promise.resolve()
        : once(server, 'exit');
    signalGroup(pgid, 'SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    const deadline = Date.now() + 5_000;
    while (groupAlive(pgid) && Date.now() < deadline) {
      await sleep(100);
    }
    signalGroup(pgid, 'SIGKILL');
  }
  if (scratch) {
    rmSync(scratch, { recursive: true, force: true });
  }
});

/** A request through Jupyter, authenticated with the Jupyter token unless told otherwise. */
function jupyter(
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string; token?: boolean } = {}
): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token !== false) {
    headers['Authorization'] = `token ${TOKEN}`;
  }
  return fetch(base + path, {
    method: init.method ?? 'GET',
    headers,
    body: init.body,
    redirect: 'manual',
    signal: AbortSignal.timeout(60_000)
  });
}

/** The JSON of an answer, or a failure that shows what came instead. */
async function json<T>(response: Response): Promise<T> {
  const text = await response.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`expected JSON, got ${response.status}: ${text.slice(0, 300)}`);
  }
}

/** The `name=value` pairs of a response's Set-Cookie headers. */
function cookiesOf(response: Response): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const line of response.headers.getSetCookie()) {
    const pair = line.split(';', 1)[0] ?? '';
    const eq = pair.indexOf('=');
    if (eq > 0) {
      cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }
  return cookies;
}

/** Whether the companion logged a request for `path` (its log lines go to Jupyter's stderr). */
function companionLogged(path: string): boolean {
  return serverLog.join('').includes(`"path":${JSON.stringify(path)}`);
}

const makeAvailablePath = '/dlaas/api/instances/devlake/make-available';
const makeAvailableBody = JSON.stringify({ did: DID });

describe('the dlaas wheel in JupyterLab', () => {
  it('when the wheel is installed, then jupyter server extension list shows jupyter_server_proxy enabled', async () => {
    const listed = await run(join(LAB_VENV, 'bin', 'jupyter'), ['server', 'extension', 'list'], {
      env: labEnv
    });
    const text = stripVTControlCharacters(listed.stdout + listed.stderr);
    expect(text).toMatch(/^\s*jupyter_server_proxy enabled$/m);
    expect(text).toMatch(/^\s*jupyter_server_proxy [0-9.]+ OK$/m);
  });

  it('when jupyter-server-proxy loads the dlaas entry point, then it gets the companion on a unix socket, and a sentence when Node.js is missing', async () => {
    const script = [
      'import json',
      'from importlib.metadata import entry_points',
      'eps = [e for e in entry_points(group="jupyter_serverproxy_servers") if e.name == "dlaas"]',
      'try:',
      '    print(json.dumps({"config": eps[0].load()()}))',
      'except Exception as e:',
      '    print(json.dumps({"error": str(e)}))'
    ].join('\n');
    interface Loaded {
      config?: {
        command: string[];
        unix_socket: boolean;
        timeout: number;
        absolute_url: boolean;
        launcher_entry: { enabled: boolean };
      };
      error?: string;
    }
    const load = async (env: NodeJS.ProcessEnv): Promise<Loaded> =>
      JSON.parse((await run(LAB_PYTHON, ['-c', script], { env })).stdout) as Loaded;

    const found = await load(labEnv);
    expect(found.error).toBeUndefined();
    const [node, companion, ...rest] = found.config?.command ?? [];
    expect(node).toMatch(/node$/);
    expect(companion).toMatch(/site-packages\/dlaas\/companion\/companion\.mjs$/);
    expect(rest).toEqual(['--socket', '{unix_socket}']);
    expect(found.config).toMatchObject({
      unix_socket: true,
      absolute_url: false,
      launcher_entry: { enabled: false }
    });
    expect(found.config?.timeout).toBeGreaterThanOrEqual(10);

    const chosen = await load({ ...labEnv, DLAAS_NODE: process.execPath });
    expect(chosen.config?.command[0]).toBe(process.execPath);

    const wrong = await load({ ...labEnv, DLAAS_NODE: join(scratch, 'no-such-node') });
    expect(wrong.error).toMatch(/^DLAAS_NODE is set to .*no-such-node/);

    const none = await load({ ...labEnv, PATH: join(scratch, 'root'), DLAAS_NODE: '' });
    expect(none.error).toMatch(/needs Node\.js 20\.18 or newer and found none/);
    expect(none.error).toContain('Install Node.js, or run `pip install dlaas[node]`');
  });

  it('when /dlaas/health is asked for with the Jupyter token, then the companion answers it, on a socket only its user can open', async () => {
    const response = await jupyter('/dlaas/health');
    expect(response.status).toBe(200);
    expect(await json<{ ok: boolean; version: string }>(response)).toMatchObject({
      ok: true,
      version: expect.stringMatching(/^\d+\.\d+\.\d+/)
    });

    const folders = readdirSync(join(scratch, 'tmp')).filter(name =>
      name.startsWith('jupyter-server-proxy-')
    );
    expect(folders).toHaveLength(1);
    const folder = join(scratch, 'tmp', folders[0] ?? '');
    const socket = statSync(join(folder, 'socket'));
    expect(socket.isSocket()).toBe(true);
    expect(socket.mode & 0o777).toBe(0o600);
    expect(statSync(folder).mode & 0o777).toBe(0o700);
  });

  it('when the auth status of devlake is asked for through the proxy, then alice is signed in', async () => {
    const response = await jupyter('/dlaas/api/instances/devlake/auth');
    expect(response.status).toBe(200);
    expect(await json<AuthStatus>(response)).toMatchObject({
      instance: 'devlake',
      signedIn: true,
      account: 'alice'
    });
  });

  it('when a request has no Jupyter token or login cookie, then Jupyter refuses it and the companion never sees it', async () => {
    const probe = `/probe-${randomBytes(6).toString('hex')}`;
    const get = await jupyter(`/dlaas${probe}`, { token: false });
    expect([302, 401, 403]).toContain(get.status);
    expect(await get.text()).not.toContain('"error"');
    const post = await jupyter(makeAvailablePath, {
      method: 'POST',
      token: false,
      headers: {
        'Content-Type': 'application/json',
        Cookie: '_xsrf=forged',
        'X-XSRFToken': 'forged'
      },
      body: makeAvailableBody
    });
    expect([401, 403]).toContain(post.status);
    expect(await post.text()).not.toContain('"availability"');

    // The same probe with the token does reach the companion, which logs it: so its absence
    // above means the companion was not reached.
    const control = `/probe-${randomBytes(6).toString('hex')}`;
    expect((await jupyter(`/dlaas${control}`)).status).toBe(404);
    const deadline = Date.now() + 5_000;
    while (!companionLogged(control) && Date.now() < deadline) {
      await sleep(50);
    }
    expect(companionLogged(control)).toBe(true);
    expect(companionLogged(probe)).toBe(false);
  });

  it('when make-available is POSTed without a matching _xsrf cookie and X-XSRFToken header, then the companion refuses it with 403 every time', async () => {
    const variants: Record<string, string>[] = [
      {},
      { 'X-XSRFToken': 'only-the-header' },
      { Cookie: '_xsrf=only-the-cookie' },
      { Cookie: '_xsrf=one-value', 'X-XSRFToken': 'another-value' }
    ];
    const statuses: string[] = [];
    // Many times each: a refusal sent before the request body is read can reach the proxy as a
    // broken connection (it closes its connection after each request), which Jupyter turns into
    // a 500 page, now and then.
    for (let round = 0; round < 25; round++) {
      for (const headers of variants) {
        const response = await jupyter(makeAvailablePath, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', ...headers },
          body: makeAvailableBody
        });
        const text = await response.text();
        const code = text.startsWith('{') ? (JSON.parse(text) as ErrorResponse).error.code : '-';
        statuses.push(`${JSON.stringify(headers)} → ${response.status} ${code}`);
      }
    }
    expect(statuses.filter(s => !s.endsWith('→ 403 forbidden'))).toEqual([]);
  });

  it('when a body larger than the companion accepts is POSTed through the proxy, then 413 with a sentence comes back every time', async () => {
    const huge = JSON.stringify({ did: 'x'.repeat(1024 * 1024) });
    const statuses: string[] = [];
    for (let round = 0; round < 10; round++) {
      const response = await jupyter(makeAvailablePath, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Cookie: '_xsrf=v', 'X-XSRFToken': 'v' },
        body: huge
      });
      const text = await response.text();
      const code = text.startsWith('{') ? (JSON.parse(text) as ErrorResponse).error.code : '-';
      statuses.push(`${response.status} ${code}`);
    }
    expect(statuses.filter(s => s !== '413 too_large')).toEqual([]);
  });

  it('when make-available is POSTed with the Jupyter token and Jupyter’s own _xsrf cookie and header, then the companion makes the DID available', async () => {
    // JupyterLab reads the _xsrf cookie Jupyter set on its page and sends it back as the header.
    const page = await jupyter('/lab');
    expect(page.status).toBe(200);
    const xsrf = cookiesOf(page).get('_xsrf');
    expect(xsrf).toBeDefined();
    const response = await jupyter(makeAvailablePath, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Cookie: `_xsrf=${xsrf}`,
        'X-XSRFToken': xsrf ?? ''
      },
      body: makeAvailableBody
    });
    expect([200, 201]).toContain(response.status);
    const answer = await json<MakeAvailableResponse>(response);
    expect(answer.availability).toMatchObject({ instance: 'devlake', did: DID });
    expect(answer.availability.ruleId).toEqual(expect.any(String));
  });

  it('when a browser signed in by Jupyter’s login cookie POSTs, then only the companion’s XSRF check stands between it and a forged request', async () => {
    const login = await jupyter(`/lab?token=${TOKEN}`, { token: false });
    expect(login.status).toBe(200);
    const cookies = cookiesOf(login);
    const xsrf = cookies.get('_xsrf') ?? '';
    expect(xsrf).not.toBe('');
    const cookieHeader = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');

    // A cross-site form post carries the cookies but cannot read them to set the header.
    const forged = await jupyter(makeAvailablePath, {
      method: 'POST',
      token: false,
      headers: { 'Content-Type': 'application/json', Cookie: cookieHeader },
      body: makeAvailableBody
    });
    expect(forged.status).toBe(403);
    expect((await json<ErrorResponse>(forged)).error.code).toBe('forbidden');

    const genuine = await jupyter(makeAvailablePath, {
      method: 'POST',
      token: false,
      headers: { 'Content-Type': 'application/json', Cookie: cookieHeader, 'X-XSRFToken': xsrf },
      body: makeAvailableBody
    });
    expect([200, 201]).toContain(genuine.status);
    expect((await json<MakeAvailableResponse>(genuine)).availability.did).toBe(DID);
  });

  it('when the events of a DID are streamed through the proxy, then the first availability event arrives within seconds while the stream stays open', async () => {
    const controller = new AbortController();
    const started = Date.now();
    // The proxy sends the headers with the first chunk, so the time limit covers the fetch too.
    const timer = setTimeout(() => controller.abort(), 10_000);
    try {
      // jupyter-server-proxy streams chunk by chunk only for exactly this Accept header (what
      // EventSource sends); for any other it waits for the end of the answer.
      const response = await fetch(
        `${base}/dlaas/api/instances/devlake/events?did=${encodeURIComponent(DID)}`,
        {
          headers: { Authorization: `token ${TOKEN}`, Accept: 'text/event-stream' },
          signal: controller.signal
        }
      );
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      let text = '';
      let event: RegExpExecArray | null = null;
      while (event === null) {
        const { value, done } = await reader.read().catch((error: unknown) => {
          throw new Error(
            `no availability event within 10 s through the proxy (got ${JSON.stringify(text)}): ${String(error)}`
          );
        });
        expect(done, 'the stream ended before its first event').toBe(false);
        text += decoder.decode(value, { stream: true });
        event = /^event: availability\ndata: (.*)\n\n/m.exec(text);
      }
      expect(Date.now() - started).toBeLessThan(5_000);
      expect((JSON.parse(event[1] ?? '') as Availability).did).toBe(DID);
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
  });
});
