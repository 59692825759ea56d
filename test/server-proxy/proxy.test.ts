import type {
  AuthStatus,
  Availability,
  ErrorResponse,
  MakeAvailableResponse,
  TransfersResponse
} from '@dlaas/api';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync
} from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devlake, rucioAs, type Rule } from '../devlake/helpers.js';
import type { Config } from '../../packages/companion/src/index.js';
import { linkUserConfig } from '../../packages/devlake/src/userconfig.js';
import { builtWheel, ensureLabVenv, installWheel, LAB_VENV } from '../../packages/lab/src/venv.js';
import { putDatasetBytesLater } from '../support/bytes-later.js';
import { EventStream } from '../support/event-stream.js';
import { freePort, groupAlive, run, signalGroup } from '../support/processes.js';

/**
 * The wheel that `npm run build:python` writes, installed into a real JupyterLab and reached
 * through the real jupyter-server-proxy, with the companion talking to the running devlake.
 */

const LAB_PYTHON = join(LAB_VENV, 'bin', 'python');
const DID = 'cta:prod5.gamma_onSource';
const TOKEN = randomBytes(24).toString('hex');

let scratch: string;
/** The Jupyter server that most tests talk to. */
let main: JupyterServer;
let base: string;
/** Everything the Jupyter server and the companion (which writes to Jupyter's stderr) logged. */
let serverLog: string[];
/** The environment of the Jupyter server, for the `jupyter` commands that inspect it. */
let labEnv: NodeJS.ProcessEnv;
/** The companions of the main Jupyter server once it answered, before any request to /dlaas/. */
let companionsAtStart: RunningProcess[];

/** A `jupyter server` of the lab venv, in a process group of its own. */
interface JupyterServer {
  readonly process: ChildProcess;
  readonly pid: number;
  readonly base: string;
  /** Everything it logged; the companion writes its log lines to the server's stderr. */
  readonly log: string[];
  /** Its temporary directory, where the companion's socket folder is made. */
  readonly tmp: string;
}

/** A process seen in /proc. */
interface RunningProcess {
  readonly pid: number;
  readonly ppid: number;
  readonly args: string[];
}

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
    // The companion's socket folder is made under the temporary directory: one of our own, so
    // that afterAll removes whatever is left of it.
    TMPDIR: join(scratch, 'tmp'),
    // Keep the developer's own Jupyter configuration, cookie secret and data out of the test.
    JUPYTER_CONFIG_DIR: join(scratch, 'config'),
    JUPYTER_DATA_DIR: join(scratch, 'data'),
    JUPYTER_RUNTIME_DIR: join(scratch, 'runtime')
  };
  main = await startJupyter(labEnv);
  // Taken before any test runs, so before anything asked for /dlaas/.
  companionsAtStart = companionsOf(main.pid);
  base = main.base;
  serverLog = main.log;
});

afterAll(async () => {
  if (main) {
    await stopJupyter(main);
  }
  if (scratch) {
    rmSync(scratch, { recursive: true, force: true });
  }
});

/** Starts `jupyter server` with `env` and waits until it answers. */
async function startJupyter(env: NodeJS.ProcessEnv): Promise<JupyterServer> {
  const port = await freePort();
  const log: string[] = [];
  const child = spawn(
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
    // Its own process group, so that stopJupyter stops whatever it started as well.
    { env, cwd: join(scratch, 'root'), detached: true, stdio: ['ignore', 'pipe', 'pipe'] }
  );
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => log.push(chunk.toString()));
  }
  const server: JupyterServer = {
    process: child,
    pid: child.pid ?? 0,
    base: `http://127.0.0.1:${port}`,
    log,
    tmp: env['TMPDIR'] ?? tmpdir()
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`jupyter server stopped at start-up:\n${log.join('')}`);
    }
    const status = await fetch(`${server.base}/api/status`, {
      headers: { Authorization: `token ${TOKEN}` }
    }).catch(() => undefined);
    if (status?.ok) {
      return server;
    }
    if (Date.now() > deadline) {
      await stopJupyter(server);
      throw new Error(`jupyter server did not answer within 90 s:\n${log.join('')}`);
    }
    await sleep(250);
  }
}

/** Stops a Jupyter server and everything left in its process group. */
async function stopJupyter(server: JupyterServer): Promise<void> {
  const { process: child, pid } = server;
  const exited =
    child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit');
  signalGroup(pid, 'SIGTERM');
  await Promise.race([exited, sleep(15_000)]);
  const deadline = Date.now() + 5_000;
  while (groupAlive(pid) && Date.now() < deadline) {
    await sleep(100);
  }
  signalGroup(pid, 'SIGKILL');
}

/** The processes running now (zombies have no command line, so they are left out). */
function runningProcesses(): RunningProcess[] {
  const found: RunningProcess[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) {
      continue;
    }
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name in parentheses may hold spaces; the fields after it are fixed.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (args.length > 0) {
        found.push({ pid: Number(name), ppid, args });
      }
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** The dlaas companions (`node .../companion.mjs`) among the descendants of `pid`. */
function companionsOf(pid: number): RunningProcess[] {
  const all = runningProcesses();
  const family = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of all) {
      if (family.has(p.ppid) && !family.has(p.pid)) {
        family.add(p.pid);
        grew = true;
      }
    }
  }
  return all.filter(
    p =>
      p.pid !== pid &&
      family.has(p.pid) &&
      p.args.some(a => a.endsWith('/dlaas/companion/companion.mjs'))
  );
}

/** The socket a companion was told to listen on. */
function socketOf(companion: RunningProcess | undefined): string {
  const args = companion?.args ?? [];
  return args[args.indexOf('--socket') + 1] ?? '';
}

/** Whether a process with this id exists (a zombie counts as gone). */
function processExists(pid: number): boolean {
  return runningProcesses().some(p => p.pid === pid);
}

/** A GET straight to a unix socket, past Jupyter. */
function getOnSocket(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ socketPath, path, timeout: 10_000 }, response => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolvePromise({ status: response.statusCode ?? 0, body }));
    });
    req.once('timeout', () => req.destroy(new Error(`no answer on ${socketPath} within 10 s`)));
    req.once('error', reject);
    req.end();
  });
}

/** The folders in `dir` whose names start with `prefix`. */
function foldersIn(dir: string, prefix: string): string[] {
  return readdirSync(dir)
    .filter(name => name.startsWith(prefix))
    .map(name => join(dir, name));
}

/** A request through Jupyter, authenticated with the Jupyter token unless told otherwise. */
function jupyter(
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string; token?: boolean } = {},
  server: { readonly base: string } = main
): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token !== false) {
    headers['Authorization'] = `token ${TOKEN}`;
  }
  return fetch(server.base + path, {
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
  it('when the wheel is installed, then jupyter server extension list shows jupyter_server_proxy and dlaas enabled', async () => {
    const listed = await run(join(LAB_VENV, 'bin', 'jupyter'), ['server', 'extension', 'list'], {
      env: labEnv
    });
    const text = stripVTControlCharacters(listed.stdout + listed.stderr);
    expect(text).toMatch(/^\s*jupyter_server_proxy enabled$/m);
    expect(text).toMatch(/^\s*jupyter_server_proxy [0-9.]+ OK$/m);
    expect(text).toMatch(/^\s*dlaas enabled$/m);
    expect(text).toMatch(/^\s*dlaas [0-9.]+ OK$/m);
  });

  it('when the Jupyter server has started and nothing was asked of /dlaas/ yet, then its companion already runs and answers on a socket in a private folder', async () => {
    expect(companionsAtStart).toHaveLength(1);
    const [companion] = companionsAtStart;
    const [node, semiSpace, bundle, ...rest] = companion?.args ?? [];
    expect(node).toMatch(/node$/);
    // V8's young generation at 1 MB (serverproxy.COMPANION_NODE_OPTIONS) keeps the companion small.
    expect(semiSpace).toBe('--max-semi-space-size=1');
    expect(bundle).toMatch(/site-packages\/dlaas\/companion\/companion\.mjs$/);
    expect(rest).toEqual([
      '--socket',
      expect.stringMatching(/\/dlaas-[^/]+\/socket$/),
      '--stop-with-stdin'
    ]);
    const socket = socketOf(companion);
    expect(socket.startsWith(join(scratch, 'tmp') + '/')).toBe(true);

    const health = await getOnSocket(socket, '/health');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ ok: true });
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(socket)).mode & 0o777).toBe(0o700);
    // Two malloc arenas with a fixed trim threshold (serverproxy.COMPANION_ENVIRONMENT) keep the
    // FUSE folder's threads small.
    const environment = readFileSync(`/proc/${companion?.pid}/environ`, 'utf8').split('\0');
    expect(environment).toContain('MALLOC_ARENA_MAX=2');
    expect(environment).toContain('MALLOC_TRIM_THRESHOLD_=131072');
    // jupyter-server-proxy has made no socket folder of its own: it started nothing.
    expect(foldersIn(join(scratch, 'tmp'), 'jupyter-server-proxy-')).toEqual([]);
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
        environment: Record<string, string>;
      };
      error?: string;
    }
    const load = async (env: NodeJS.ProcessEnv): Promise<Loaded> =>
      JSON.parse((await run(LAB_PYTHON, ['-c', script], { env })).stdout) as Loaded;

    const found = await load(labEnv);
    expect(found.error).toBeUndefined();
    const [node, semiSpace, companion, ...rest] = found.config?.command ?? [];
    expect(node).toMatch(/node$/);
    expect(semiSpace).toBe('--max-semi-space-size=1');
    expect(companion).toMatch(/site-packages\/dlaas\/companion\/companion\.mjs$/);
    expect(rest).toEqual(['--socket', '{unix_socket}']);
    expect(found.config?.environment).toEqual({
      MALLOC_ARENA_MAX: '2',
      MALLOC_TRIM_THRESHOLD_: '131072'
    });
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

  it('when /dlaas/health is asked for with the Jupyter token, then the companion that the server started answers it, and no second one is started', async () => {
    const response = await jupyter('/dlaas/health');
    expect(response.status).toBe(200);
    expect(await json<{ ok: boolean; version: string }>(response)).toMatchObject({
      ok: true,
      version: expect.stringMatching(/^\d+\.\d+\.\d+/)
    });

    const pids = companionsOf(main.pid).map(p => p.pid);
    expect(pids).toEqual(companionsAtStart.map(p => p.pid));
    expect(pids).toHaveLength(1);
    expect(foldersIn(join(scratch, 'tmp'), 'jupyter-server-proxy-')).toEqual([]);
    const folders = foldersIn(join(scratch, 'tmp'), 'dlaas-');
    expect(folders).toEqual([dirname(socketOf(companionsAtStart[0]))]);
    const socket = statSync(join(folders[0] ?? '', 'socket'));
    expect(socket.isSocket()).toBe(true);
    expect(socket.mode & 0o777).toBe(0o600);
  });

  it('when a kernel that the Jupyter server started uses dlaas.lake, then it reaches the server’s companion through DLAAS_COMPANION_SOCKET and starts none of its own', async () => {
    const started = await jupyter('/api/kernels', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'python3' })
    });
    expect(started.status).toBe(201);
    const { id } = await json<{ id: string }>(started);
    // Runs code in the kernel through its connection file, and prints what the code printed.
    const client = [
      'import sys',
      'from jupyter_client import BlockingKernelClient',
      'client = BlockingKernelClient(connection_file=sys.argv[1])',
      'client.load_connection_file()',
      'client.start_channels()',
      'client.wait_for_ready(timeout=60)',
      'texts = []',
      'def keep(msg):',
      '    if msg["msg_type"] == "stream":',
      '        texts.append(msg["content"]["text"])',
      '    elif msg["msg_type"] == "error":',
      '        texts.append("\\n".join(msg["content"]["traceback"]))',
      'client.execute_interactive(sys.argv[2], output_hook=keep, timeout=120)',
      'print("".join(texts))'
    ].join('\n');
    const code = [
      'import json, os',
      'from dlaas import lake',
      'found = lake.search("cta:prod5*", type="dataset")',
      'print("KERNEL " + json.dumps({"socket": os.environ.get("DLAAS_COMPANION_SOCKET"), "own": lake._own is not None, "dids": [f.did for f in found]}))'
    ].join('\n');
    try {
      const connection = join(scratch, 'runtime', `kernel-${id}.json`);
      const ran = await run(LAB_PYTHON, ['-c', client, connection, code], { env: labEnv });
      const line = /^KERNEL (.*)$/m.exec(ran.stdout)?.[1];
      expect(line, ran.stdout + ran.stderr).toBeDefined();
      const companions = companionsOf(main.pid);
      expect(companions).toHaveLength(1);
      expect(JSON.parse(line ?? '{}')).toEqual({
        socket: socketOf(companions[0]),
        own: false,
        dids: ['cta:prod5.gamma_onSource', 'cta:prod5.proton']
      });
      // The server's companion, whose log lines are the server's, answered the search (it logs
      // the path below /api that its router saw).
      const searched = (): boolean =>
        /"method":"POST","path":"(\/api)?\/instances\/devlake\/search","status":200/.test(
          serverLog.join('')
        );
      const deadline = Date.now() + 5_000;
      while (!searched() && Date.now() < deadline) {
        await sleep(50);
      }
      expect(searched(), serverLog.join('').slice(-3000)).toBe(true);
    } finally {
      await (await jupyter(`/api/kernels/${id}`, { method: 'DELETE' })).body?.cancel();
    }
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

  it('when the companion dies, then the server extension starts it again on the same socket, and the proxy reaches the new one', async () => {
    // Still the one from the start, after all the requests above went through the proxy.
    const before = companionsOf(main.pid);
    expect(before.map(p => p.pid)).toEqual(companionsAtStart.map(p => p.pid));
    const dead = before[0]?.pid ?? 0;
    const socket = socketOf(before[0]);
    process.kill(dead, 'SIGKILL');

    const deadline = Date.now() + 20_000;
    let after = companionsOf(main.pid);
    while (Date.now() < deadline) {
      after = companionsOf(main.pid);
      const answer =
        after.length === 1 && after[0]?.pid !== dead
          ? await getOnSocket(socket, '/health').catch(() => undefined)
          : undefined;
      if (answer?.status === 200) {
        break;
      }
      await sleep(200);
    }
    expect(after).toHaveLength(1);
    expect(after[0]?.pid).not.toBe(dead);
    expect(socketOf(after[0])).toBe(socket);
    expect(main.log.join('')).toContain(`The dlaas companion (pid ${dead}) was stopped by SIGKILL`);

    const response = await jupyter('/dlaas/health');
    expect(response.status).toBe(200);
    expect(companionsOf(main.pid).map(p => p.pid)).toEqual(after.map(p => p.pid));
    expect(foldersIn(join(scratch, 'tmp'), 'jupyter-server-proxy-')).toEqual([]);
  });

  it('when the companion is killed with SIGKILL while a rule it made is replicating, then it is started again and, through the proxy, the transfers list and the reopened event stream show the rule still REPLICATING and then AVAILABLE', async () => {
    // A new dataset whose bytes reach the site's storage only later: its rule replicates (its
    // transfers fail at the source and are retried) until they are written.
    const dataset = `proxy-kill-${randomBytes(5).toString('hex')}`;
    const did = `user.alice:${dataset}`;
    const writeBytes = await putDatasetBytesLater(devlake, dataset, 3);
    const eventsUrl = `${base}/dlaas/api/instances/devlake/events?did=${encodeURIComponent(did)}`;
    const auth = { Authorization: `token ${TOKEN}` };
    // The panel shows the dataset, and follows it on the event stream, through the proxy.
    const before = await EventStream.open(eventsUrl, auth);
    expect(before.status).toBe(200);
    expect(
      (await before.until(a => a.did === did, 10_000, 'the first event')).availability.state
    ).toBe('NOT_AVAILABLE');
    const page = await jupyter('/lab');
    const xsrf = cookiesOf(page).get('_xsrf') ?? '';
    await page.body?.cancel();
    const made = await jupyter(makeAvailablePath, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Cookie: `_xsrf=${xsrf}`, 'X-XSRFToken': xsrf },
      body: JSON.stringify({ did })
    });
    expect(made.status).toBe(201);
    const { availability } = await json<MakeAvailableResponse>(made);
    expect(availability.state).toBe('REPLICATING');
    const ruleId = availability.ruleId ?? '';

    // Killed at once: Rucio retries the failing transfers three times (about 15 s) before it
    // calls the rule stuck, and everything below until the bytes are written must fit in that.
    const companions = companionsOf(main.pid);
    expect(companions).toHaveLength(1);
    const dead = companions[0]?.pid ?? 0;
    process.kill(dead, 'SIGKILL');
    await before.ended(10_000);

    // The panel's next requests, as it retries them, reach a companion again.
    const deadline = performance.now() + 30_000;
    let health = await jupyter('/dlaas/health');
    while (health.status !== 200 && performance.now() < deadline) {
      await health.body?.cancel();
      await sleep(100);
      health = await jupyter('/dlaas/health');
    }
    expect(health.status).toBe(200);
    const after = companionsOf(main.pid);
    expect(after).toHaveLength(1);
    expect(after[0]?.pid).not.toBe(dead);

    // The transfers list, and the event stream opened again (as EventSource reconnects), show
    // the rule still replicating.
    const reopened = await EventStream.open(eventsUrl, auth);
    try {
      const [transfers, first] = await Promise.all([
        jupyter('/dlaas/api/instances/devlake/transfers').then(r => json<TransfersResponse>(r)),
        reopened.until(a => a.did === did, 10_000, 'the first event after the restart')
      ]);
      const rule = await rucioAs('alice').json<Rule>('GET', `/rules/${ruleId}`);
      expect(rule.state, 'Rucio has not given up on the rule yet (a heavily loaded machine?)').toBe(
        'REPLICATING'
      );
      expect(transfers.transfers.find(t => t.did === did)).toMatchObject({
        ruleId,
        state: 'REPLICATING'
      });
      expect(reopened.status).toBe(200);
      expect(first.availability).toMatchObject({ state: 'REPLICATING', ruleId });

      // The bytes arrive: the stream shows the rule done.
      await writeBytes();
      const done = await reopened.until(
        a => a.did === did && a.state === 'AVAILABLE',
        120_000,
        'AVAILABLE'
      );
      expect(done.availability).toMatchObject({ ruleId, files: { ok: 3, total: 3 } });
    } finally {
      reopened.close();
    }
  });

  it('when the Jupyter server stops, then its companion stops with it and the private folder is removed', async () => {
    const companions = companionsOf(main.pid);
    expect(companions).toHaveLength(1);
    const companion = companions[0]?.pid ?? 0;
    const folder = dirname(socketOf(companions[0]));
    expect(existsSync(folder)).toBe(true);

    // Only the server is signalled, not its process group: the companion must be stopped by it.
    const exited = once(main.process, 'exit');
    process.kill(main.pid, 'SIGTERM');
    const timer = new AbortController();
    const stopped = await Promise.race([
      exited.then(() => true),
      sleep(30_000, false, { signal: timer.signal }).catch(() => false)
    ]);
    timer.abort();
    expect(stopped, `jupyter server did not stop within 30 s:\n${main.log.join('')}`).toBe(true);
    expect(processExists(companion)).toBe(false);
    expect(main.log.join('')).toContain(`Stopped the dlaas companion (pid ${companion}).`);
    expect(existsSync(folder)).toBe(false);
  });
});

describe('the dlaas wheel in JupyterLab, in other set-ups', () => {
  /** The environment of a Jupyter server with its own Jupyter configuration and TMPDIR. */
  function setUp(name: string, env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    for (const dir of [`config-${name}`, `tmp-${name}`]) {
      mkdirSync(join(scratch, dir));
    }
    return {
      ...labEnv,
      JUPYTER_CONFIG_DIR: join(scratch, `config-${name}`),
      TMPDIR: join(scratch, `tmp-${name}`),
      ...env
    };
  }

  it('when the dlaas server extension is disabled, then no companion runs at start, and jupyter-server-proxy starts one on the first request to /dlaas/', async () => {
    // What `jupyter server extension disable dlaas` writes into the venv's etc/jupyter, written
    // into this test's own JUPYTER_CONFIG_DIR instead, so that the venv the other tests share
    // keeps the extension; JUPYTER_PREFER_ENV_PATH=0 ranks that folder above the venv's.
    const env = setUp('disabled', { JUPYTER_PREFER_ENV_PATH: '0' });
    const configD = join(env['JUPYTER_CONFIG_DIR'] ?? '', 'jupyter_server_config.d');
    mkdirSync(configD);
    writeFileSync(
      join(configD, 'dlaas.json'),
      JSON.stringify({ ServerApp: { jpserver_extensions: { dlaas: false } } })
    );
    const server = await startJupyter(env);
    try {
      expect(companionsOf(server.pid)).toEqual([]);
      expect(server.log.join('')).not.toContain('Started the dlaas companion');

      const response = await jupyter('/dlaas/health', {}, server);
      expect(response.status).toBe(200);
      expect(await json<{ ok: boolean }>(response)).toMatchObject({ ok: true });
      const companions = companionsOf(server.pid);
      expect(companions).toHaveLength(1);
      expect(socketOf(companions[0])).toMatch(/\/jupyter-server-proxy-[^/]+\/socket$/);
      expect(foldersIn(server.tmp, 'dlaas-')).toEqual([]);
    } finally {
      await stopJupyter(server);
    }
  });

  it('when no Node.js is found, then the Jupyter server starts all the same and says why the companion did not', async () => {
    // The jupyter script names its python by absolute path; nothing else needs PATH here.
    const env = setUp('no-node', { PATH: join(scratch, 'root'), DLAAS_NODE: '' });
    const server = await startJupyter(env);
    try {
      const log = server.log.join('');
      expect(log).toContain(
        'The dlaas companion was not started, so the data lake is not mounted: The dlaas companion needs Node.js 20.18 or newer and found none.'
      );
      expect(log).toContain('entry_point dlaas was unable to be loaded');
      expect(companionsOf(server.pid)).toEqual([]);
      expect(foldersIn(server.tmp, 'dlaas-')).toEqual([]);
      expect((await jupyter('/dlaas/health', {}, server)).status).toBe(404);
      expect((await jupyter('/api/status', {}, server)).status).toBe(200);
    } finally {
      await stopJupyter(server);
    }
  });

  it('when the companion mounts the data lake folder, then a notebook run headless at server start (nbclient, no request to /dlaas/) reads made-available files there with Rucio’s checksums', async () => {
    // The DID was made available by the tests above; its files are alice's on the scratch RSE.
    const base = (JSON.parse(readFileSync(devlake.companionConfig, 'utf8')) as Config).instances[0];
    const mountPoint = join(scratch, 'headless-datalake');
    const configFile = join(scratch, 'headless-companion.json');
    writeFileSync(
      configFile,
      JSON.stringify({ instances: [{ ...base, paths: { mode: 'fuse', mountPoint } }] })
    );
    const env = setUp('headless', { DLAAS_CONFIG: configFile });
    const [scope, name] = DID.split(':') as [string, string];
    const notebook = join(scratch, 'root', 'headless.ipynb');
    const code = [
      'import json, os, zlib',
      `folder = os.path.join(${JSON.stringify(mountPoint)}, ${JSON.stringify(scope)}, ${JSON.stringify(name)})`,
      'sums = {}',
      'for top, _, files in os.walk(folder):',
      '    for f in files:',
      '        path = os.path.join(top, f)',
      "        sums[os.path.relpath(path, folder)] = '%08x' % zlib.adler32(open(path, 'rb').read())",
      "print('SUMS ' + json.dumps(sums))"
    ].join('\n');
    writeFileSync(
      notebook,
      JSON.stringify({
        cells: [
          { cell_type: 'code', metadata: {}, source: code, outputs: [], execution_count: null }
        ],
        metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
        nbformat: 4,
        nbformat_minor: 5
      })
    );
    const server = await startJupyter(env);
    try {
      const executed = await run(
        join(LAB_VENV, 'bin', 'jupyter-execute'),
        ['--inplace', notebook],
        {
          env
        }
      );
      expect(executed.code, executed.stderr).toBe(0);
      const executedNotebook = JSON.parse(readFileSync(notebook, 'utf8')) as {
        cells: { outputs: { text?: string | string[] }[] }[];
      };
      const text = [executedNotebook.cells[0]?.outputs[0]?.text ?? ''].flat().join('');
      const sums = JSON.parse(/^SUMS (.*)$/m.exec(text)?.[1] ?? '{}') as Record<string, string>;
      const rucio = await fetch(
        `${devlake.rucio.url}/dids/${scope}/${encodeURIComponent(name)}/files`,
        { headers: { 'X-Rucio-Auth-Token': await rucioAs('alice').authToken() } }
      );
      const files = (await rucio.text())
        .split('\n')
        .filter(Boolean)
        .map(line => JSON.parse(line) as { name: string; adler32: string });
      expect(files.length).toBeGreaterThan(0);
      expect(sums, `${text}\n${server.log.join('')}`).toEqual(
        Object.fromEntries(files.map(f => [f.name, f.adler32]))
      );
      // Nothing asked the companion for anything but its health at start: the folder was there.
      expect(server.log.join('')).not.toMatch(/"message":"request","method":"\w+","path":"\/api\//);
    } finally {
      await stopJupyter(server);
    }
  });

  it('when a companion ignores SIGTERM, then stopping it sends SIGKILL after the grace period', async () => {
    // The supervisor of the wheel, with a stand-in companion that ignores SIGTERM.
    const script = [
      'import json, logging, os, sys, time',
      'from dlaas.supervisor import CompanionProcess',
      'lines = []',
      'class Keep(logging.Handler):',
      '    def emit(self, record): lines.append(record.getMessage())',
      'log = logging.getLogger("test")',
      'log.addHandler(Keep())',
      'log.setLevel(logging.INFO)',
      'stubborn = "process.on(\'SIGTERM\', () => {}); setInterval(() => {}, 1000)"',
      'companion = CompanionProcess([sys.argv[1], "-e", stubborn, "--"], log)',
      'companion.start()',
      'pid = companion.pid',
      'time.sleep(1)',
      'started = time.monotonic()',
      'companion.stop(grace=1.5)',
      'took = time.monotonic() - started',
      'try:',
      '    os.kill(pid, 0)',
      '    alive = True',
      'except ProcessLookupError:',
      '    alive = False',
      'print(json.dumps({"pid": pid, "took": took, "alive": alive, "folder": companion.folder.exists(), "log": lines}))'
    ].join('\n');
    const env = setUp('stubborn');
    const result = JSON.parse(
      (await run(LAB_PYTHON, ['-c', script, process.execPath], { env })).stdout
    ) as { pid: number; took: number; alive: boolean; folder: boolean; log: string[] };
    expect(result.alive).toBe(false);
    expect(result.took).toBeGreaterThanOrEqual(1.5);
    expect(result.took).toBeLessThan(5);
    expect(result.folder).toBe(false);
    expect(result.log).toContain(
      `The dlaas companion (pid ${result.pid}) was still running 1.5 s after SIGTERM; sending SIGKILL.`
    );
  });
});
