import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync
} from 'node:fs';
import { request, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { companionToken, defaultTokenFile, writeTokenFile } from '../src/companion-token.js';
import { ConfigError, EMPTY_CONFIG } from '../src/config.js';
import { start, type RunningCompanion } from '../src/server.js';

/**
 * The guard of a companion on TCP: loopback Host, no foreign Origin, and its token. A real
 * companion on port 0 with no data lake configured: the guard answers before any Rucio call.
 */

const SECRET = 'a-secret-of-forty-characters-0123456789';
const work = mkdtempSync(join(tmpdir(), 'dlaas-tcp-guard-'));
const MAIN = join(import.meta.dirname, '..', 'lib', 'main.js');

/** An answer, with the error sentence when there is one. */
interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  readonly message?: string;
}

/** GET (or another method) with exactly these headers, over TCP (`port`) or a unix socket. */
async function ask(
  where: { port: number } | { socketPath: string },
  path: string,
  headers: OutgoingHttpHeaders,
  method = 'GET'
): Promise<Answer> {
  const req = request({ ...where, host: '127.0.0.1', path, method, headers });
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  let body = '';
  for await (const chunk of res) {
    body += String(chunk);
  }
  let message: string | undefined;
  try {
    message = (JSON.parse(body) as { error?: { message?: string } }).error?.message;
  } catch {
    // Not JSON: no sentence.
  }
  return { status: res.statusCode ?? 0, headers: res.headers, body, message };
}

function portOf(companion: RunningCompanion): number {
  return Number(new URL(companion.address).port);
}

describe('a companion on TCP with a token', () => {
  let companion: RunningCompanion;
  let port: number;
  const tokenFile = join(work, 'run', 'dlaas', 'guarded.token');

  /** Headers of a well-behaved local client, with `extra` on top. */
  function headers(extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
    return { host: `127.0.0.1:${port}`, authorization: `token ${SECRET}`, ...extra };
  }

  beforeAll(async () => {
    companion = await start(EMPTY_CONFIG, {
      port: 0,
      token: { secret: SECRET, file: () => tokenFile }
    });
    port = portOf(companion);
  });

  afterAll(async () => {
    await companion?.stop();
  });

  it('when a request names loopback and carries the token, then the companion answers it', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
      const answer = await ask({ port }, '/health', headers({ host }));
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toMatchObject({ ok: true });
    }
    const bearer = await ask({ port }, '/health', headers({ authorization: `Bearer ${SECRET}` }));
    expect(bearer.status).toBe(200);
  });

  it('when the guard lets a request through, then the app answers it as before (404 of no data lake, 403 of XSRF)', async () => {
    const scopes = await ask({ port }, '/api/instances/any/scopes', headers());
    expect(scopes.status).toBe(404);
    expect(scopes.message).toMatch(/No data lake is configured/);
    const post = await ask({ port }, '/api/instances/any/make-available', headers(), 'POST');
    expect(post.status).toBe(403);
    expect(post.message).toMatch(/XSRF token/);
  });

  it.each([
    ['a rebound name', 'evil.example'],
    ['a rebound name with the port', 'evil.example:PORT'],
    ['another address of the machine', '10.0.0.1:PORT'],
    ['a loopback name with a trailing dot', 'localhost.:PORT'],
    ['a name with userinfo', 'user@127.0.0.1:PORT']
  ])(
    'when Host is %s, then it is a 403 with a sentence, even with the token',
    async (_what, host) => {
      const answer = await ask(
        { port },
        '/health',
        headers({ host: host.replace('PORT', String(port)) })
      );
      expect(answer.status).toBe(403);
      expect(answer.message).toMatch(
        /^The companion answers only requests to 127\.0\.0\.1, localhost or \[::1\], not to ".*"; use http:\/\/127\.0\.0\.1:<port>/
      );
      expect(answer.body).not.toContain(SECRET);
    }
  );

  it.each([
    ['another site', 'http://evil.example'],
    ['another site on the same port', 'http://evil.example:PORT'],
    ['a sandboxed page', 'null'],
    ['another loopback port', 'http://127.0.0.1:1'],
    ['https on the same address', 'https://127.0.0.1:PORT']
  ])('when Origin is %s, then it is a 403 with a sentence', async (_what, origin) => {
    const answer = await ask(
      { port },
      '/health',
      headers({ origin: origin.replace('PORT', String(port)) })
    );
    expect(answer.status).toBe(403);
    expect(answer.message).toMatch(
      /^The companion does not answer requests from web pages of other origins/
    );
  });

  it('when Origin is the companion’s own, then the request goes on', async () => {
    const answer = await ask({ port }, '/health', headers({ origin: `http://127.0.0.1:${port}` }));
    expect(answer.status).toBe(200);
  });

  it.each([
    ['no Authorization header', undefined, /^This request has no token/],
    ['another scheme', `Basic ${SECRET}`, /^This request has no token/],
    ['a wrong token', `token ${SECRET.slice(0, -1)}x`, /^The token sent is not this companion's/],
    ['a longer token', `token ${SECRET}x`, /^The token sent is not this companion's/],
    ['a short token', 'token a', /^The token sent is not this companion's/]
  ])(
    'when there is %s, then it is a 401 that says where the token is',
    async (_what, authorization, sentence) => {
      const sent = headers();
      delete sent.authorization;
      if (authorization !== undefined) {
        sent.authorization = authorization;
      }
      const answer = await ask({ port }, '/api/instances', sent);
      expect(answer.status).toBe(401);
      expect(answer.headers['www-authenticate']).toBe('token realm="dlaas-companion"');
      expect(answer.message).toMatch(sentence);
      expect(answer.message).toContain(
        `Send the header "Authorization: token <token>" with the token from ${tokenFile}.`
      );
      expect(answer.body).not.toContain(SECRET);
    }
  );

  it('when it has started, then its token is in the file, readable by the user alone, and the folder is private', () => {
    expect(companion.tokenFile).toBe(tokenFile);
    expect(readFileSync(tokenFile, 'utf8')).toBe(SECRET);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(work, 'run', 'dlaas')).mode & 0o777).toBe(0o700);
  });

  it('when it stops, then the token file is removed', async () => {
    const other = join(work, 'stops.token');
    const running = await start(EMPTY_CONFIG, {
      port: 0,
      token: { secret: SECRET, file: () => other }
    });
    expect(existsSync(other)).toBe(true);
    await running.stop();
    expect(existsSync(other)).toBe(false);
  });
});

describe('a companion on TCP without a token (tests that run it in their own process)', () => {
  let companion: RunningCompanion;

  beforeAll(async () => {
    companion = await start(EMPTY_CONFIG, { port: 0 });
  });

  afterAll(async () => {
    await companion?.stop();
  });

  it('when a local program asks without a token, then it is answered, but a rebound Host is still refused', async () => {
    const port = portOf(companion);
    expect((await ask({ port }, '/health', { host: `127.0.0.1:${port}` })).status).toBe(200);
    expect((await ask({ port }, '/health', { host: `evil.example:${port}` })).status).toBe(403);
    expect(
      (await ask({ port }, '/health', { host: `127.0.0.1:${port}`, origin: 'http://evil.example' }))
        .status
    ).toBe(403);
  });
});

describe('what start() refuses', () => {
  it('when the token is shorter than 32 characters, then start() refuses with a sentence', async () => {
    await expect(start(EMPTY_CONFIG, { port: 0, token: { secret: 'short' } })).rejects.toThrow(
      "The companion's token is 5 characters long; the companion needs at least 32"
    );
  });

  it('when asked to listen on an address other than loopback, then start() refuses with a sentence', async () => {
    await expect(
      start(EMPTY_CONFIG, { port: 0, host: '0.0.0.0', token: { secret: SECRET } })
    ).rejects.toThrow(
      'The companion listens on TCP only on loopback (127.0.0.1, ::1 or localhost), not on 0.0.0.0'
    );
  });

  it('when the token file cannot be written, then start() refuses with a sentence that names the file', async () => {
    const blocker = join(work, 'a-file');
    writeFileSync(blocker, '');
    await expect(
      start(EMPTY_CONFIG, {
        port: 0,
        token: { secret: SECRET, file: () => join(blocker, 'companion.token') }
      })
    ).rejects.toThrow(
      new RegExp(
        `^The companion could not write its token to ${blocker}/companion\\.token \\(.*\\)\\. Name a file it may write with --token-file PATH\\.$`
      )
    );
  });
});

describe('a companion on a unix socket', () => {
  it('when jupyter-server-proxy asks on the socket, then no token and no Host check apply', async () => {
    const socketPath = join(work, 'companion.sock');
    const companion = await start(EMPTY_CONFIG, { socket: socketPath });
    try {
      expect(statSync(socketPath).mode & 0o777).toBe(0o600);
      const answer = await ask({ socketPath }, '/health', { host: 'evil.example' });
      expect(answer.status).toBe(200);
      expect(companion.tokenFile).toBeUndefined();
    } finally {
      await companion.stop();
    }
  });
});

describe('the token of dlaas-companion --port', () => {
  it('when DLAAS_TOKEN is unset, then a random 32-byte token goes to $XDG_RUNTIME_DIR/dlaas/companion-<port>.token', () => {
    const token = companionToken({ XDG_RUNTIME_DIR: '/run/user/1000' }, undefined);
    expect(token.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(companionToken({}, 'x').secret).not.toBe(token.secret);
    expect(token.file?.(8765)).toBe('/run/user/1000/dlaas/companion-8765.token');
  });

  it('when there is no runtime folder, then the token goes under ~/.local/state, and with no HOME either the sentence asks for --token-file', () => {
    expect(defaultTokenFile(1, { HOME: '/home/ann' })).toBe(
      '/home/ann/.local/state/dlaas/companion-1.token'
    );
    expect(defaultTokenFile(1, { XDG_STATE_HOME: '/state', HOME: '/home/ann' })).toBe(
      '/state/dlaas/companion-1.token'
    );
    expect(() => defaultTokenFile(1, {})).toThrow(
      'The companion has nowhere to put its token: neither XDG_RUNTIME_DIR nor HOME is set. Name a file with --token-file PATH.'
    );
  });

  it('when --token-file is given, then the token goes there (as an absolute path)', () => {
    const token = companionToken({ XDG_RUNTIME_DIR: '/run/user/1000' }, 'relative/t.token');
    expect(token.file?.(8765)).toBe(join(process.cwd(), 'relative', 't.token'));
  });

  it('when DLAAS_TOKEN is set, then it is the token, written nowhere unless --token-file says so', () => {
    const given = companionToken({ DLAAS_TOKEN: SECRET }, undefined);
    expect(given).toEqual({
      secret: SECRET,
      hint: 'DLAAS_TOKEN, the token the companion was started with'
    });
    expect(companionToken({ DLAAS_TOKEN: SECRET }, '/tmp/t.token').file?.(1)).toBe('/tmp/t.token');
  });

  it.each([
    [
      'shorter than 32 characters',
      'x'.repeat(31),
      /^DLAAS_TOKEN is 31 characters long; the companion needs at least 32/
    ],
    [
      'holding a space',
      `${'x'.repeat(32)} y`,
      /^DLAAS_TOKEN holds spaces or characters that are not printable ASCII/
    ]
  ])(
    'when DLAAS_TOKEN is %s, then it is refused with a sentence that says how to make one',
    (_what, value, sentence) => {
      let error: unknown;
      try {
        companionToken({ DLAAS_TOKEN: value }, undefined);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(sentence);
      expect((error as Error).message).toContain('openssl rand -base64 32');
    }
  );

  it('when a link lies where the token file goes, then the link is replaced and its target left alone', () => {
    const target = join(work, 'someone-elses.txt');
    writeFileSync(target, 'theirs');
    const path = join(work, 'linked.token');
    symlinkSync(target, path);
    writeTokenFile(path, SECRET);
    expect(lstatSync(path).isSymbolicLink()).toBe(false);
    expect(readFileSync(path, 'utf8')).toBe(SECRET);
    expect(readFileSync(target, 'utf8')).toBe('theirs');
  });
});

describe('dlaas-companion --port (the command)', () => {
  const configFile = join(work, 'companion.json');
  const children: ChildProcess[] = [];

  /** Stops the command with SIGTERM, as a user would, if it still runs. */
  async function stop(child: ChildProcess): Promise<void> {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
  }

  // Also a command that started when it should not have (on the old code) is stopped.
  afterEach(async () => {
    await Promise.all(children.splice(0).map(stop));
  });

  /** Runs the command until it logs that it started (or exits); the caller stops it. */
  async function run(args: string[], env: NodeJS.ProcessEnv) {
    if (!existsSync(MAIN)) {
      throw new Error(`${MAIN} is missing: run "npm run build" first.`);
    }
    writeFileSync(configFile, JSON.stringify({ instances: [] }));
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: { PATH: process.env['PATH'], DLAAS_CONFIG: configFile, ...env },
      stdio: ['ignore', 'ignore', 'pipe']
    });
    children.push(child);
    let stderr = '';
    const started = new Promise<{ address: string; credentialFile?: string } | undefined>(
      resolvePromise => {
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          for (const line of stderr.split('\n')) {
            if (line.includes('"companion started"')) {
              resolvePromise(JSON.parse(line) as { address: string; credentialFile?: string });
            }
          }
        });
        child.once('close', () => resolvePromise(undefined));
      }
    );
    return { child, started: await started, stderr: () => stderr };
  }

  it('when started with --port 0 and no DLAAS_TOKEN, then it writes a random token to its runtime folder, refuses requests without it, and removes it when stopped', async () => {
    const runtime = mkdtempSync(join(work, 'xdg-'));
    const { child, started, stderr } = await run(['--port', '0'], { XDG_RUNTIME_DIR: runtime });
    expect(started, stderr()).toBeDefined();
    const port = Number(new URL(started?.address ?? '').port);
    const file = join(runtime, 'dlaas', `companion-${port}.token`);
    expect(started?.credentialFile).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const secret = readFileSync(file, 'utf8');
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const host = `127.0.0.1:${port}`;
    const refused = await ask({ port }, '/health', { host });
    expect(refused.status).toBe(401);
    expect(refused.message).toContain(`with the token from ${file}.`);
    const rebound = { host: `evil.example:${port}`, authorization: `token ${secret}` };
    expect((await ask({ port }, '/health', rebound)).status).toBe(403);
    const right = { host, authorization: `token ${secret}` };
    expect((await ask({ port }, '/health', right)).status).toBe(200);
    expect(stderr()).not.toContain(secret);
    await stop(child);
    expect(existsSync(file)).toBe(false);
  });

  it('when DLAAS_TOKEN and --token-file are given, then that token is required and written to that file', async () => {
    const file = join(work, 'cli', 'given.token');
    const { started, stderr } = await run(['--port', '0', '--token-file', file], {
      DLAAS_TOKEN: SECRET
    });
    expect(started, stderr()).toBeDefined();
    const port = Number(new URL(started?.address ?? '').port);
    expect(readFileSync(file, 'utf8')).toBe(SECRET);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const host = `127.0.0.1:${port}`;
    expect((await ask({ port }, '/health', { host })).status).toBe(401);
    const right = { host, authorization: `token ${SECRET}` };
    expect((await ask({ port }, '/health', right)).status).toBe(200);
    expect(stderr()).not.toContain(SECRET);
  });

  it('when DLAAS_TOKEN is too short, then it does not start and says why', async () => {
    const { child, started, stderr } = await run(['--port', '0'], {
      DLAAS_TOKEN: 'short',
      XDG_RUNTIME_DIR: work
    });
    expect(started).toBeUndefined();
    expect(child.exitCode).toBe(1);
    expect(stderr()).toMatch(
      /^dlaas-companion: DLAAS_TOKEN is 5 characters long; the companion needs at least 32/
    );
  });

  it('when --token-file is given with --socket, then it does not start and says that a socket needs no token', async () => {
    const { child, stderr } = await run(
      ['--socket', join(work, 'cli.sock'), '--token-file', join(work, 'x.token')],
      {}
    );
    expect(child.exitCode).toBe(1);
    expect(stderr()).toContain('--token-file goes with --port');
  });
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});
