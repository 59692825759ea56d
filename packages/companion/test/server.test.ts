import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EMPTY_CONFIG } from '../src/config.js';
import { start, type RunningCompanion } from '../src/server.js';

let companion: RunningCompanion;

beforeAll(async () => {
  companion = await start(EMPTY_CONFIG, { port: 0 });
});

afterAll(async () => {
  await companion.stop();
});

describe('a companion with no data lake configured', () => {
  it('when the panel asks for instances, then none are listed and a sentence says how to configure one', async () => {
    const body = (await (await fetch(`${companion.address}/api/instances`)).json()) as {
      instances: unknown[];
      message: string;
    };
    expect(body.instances).toEqual([]);
    expect(body.message).toMatch(
      /No data lake is configured\. Set DLAAS_CONFIG to the companion's configuration file, or put it at ~\/\.config\/dlaas\/companion\.json/
    );
  });

  it('when an instance is asked for anyway, then 404 says that no data lake is configured', async () => {
    const response = await fetch(`${companion.address}/api/instances/any/scopes`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(
      /No data lake is configured/
    );
  });

  it('when an unknown route is asked for, then 404 is JSON with a sentence, and /health still answers', async () => {
    const response = await fetch(`${companion.address}/nope`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('not_found');
    expect((await fetch(`${companion.address}/health`)).status).toBe(200);
  });

  it('when a body is not compressed as its Content-Encoding says, then 400 says it could not be read', async () => {
    const response = await fetch(`${companion.address}/api/instances/any/auth/sign-out`, {
      method: 'POST',
      headers: {
        'Content-Encoding': 'gzip',
        'Content-Type': 'application/json',
        Cookie: '_xsrf=x',
        'X-XSRFToken': 'x'
      },
      body: '[]'
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { message: string } }).error.message).toBe(
      'The request body could not be read; send JSON.'
    );
  });

  it('when requests are answered, then the request log names each by its full path, whether it succeeded or failed', async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation(chunk => {
      lines.push(String(chunk));
      return true;
    });
    try {
      expect((await fetch(`${companion.address}/api/instances`)).status).toBe(200);
      expect((await fetch(`${companion.address}/api/instances/any/scopes`)).status).toBe(404);
      // The log line is written when the answer has been sent, which may be after fetch returns.
      await vi.waitFor(() => expect(lines.filter(l => l.includes('"request"'))).toHaveLength(2));
    } finally {
      spy.mockRestore();
    }
    const logged = lines
      .filter(line => line.includes('"request"'))
      .map(line => JSON.parse(line) as { path: string; status: number });
    expect(logged.map(entry => [entry.path, entry.status])).toEqual([
      ['/api/instances', 200],
      ['/api/instances/any/scopes', 404]
    ]);
  });

  it('when a request line is longer than Node reads, or the bytes are not HTTP, then the answer is still JSON with a sentence', async () => {
    const long = await fetch(`${companion.address}/api/instances?did=${'x'.repeat(20_000)}`);
    expect(long.status).toBe(431);
    expect(((await long.json()) as { error: { code: string; message: string } }).error).toEqual({
      code: 'too_large',
      message: expect.stringMatching(
        /longer than the companion reads \(16 KB\)\. Ask for fewer DIDs/
      )
    });
    const raw = await new Promise<string>((resolvePromise, reject) => {
      const { hostname, port } = new URL(companion.address);
      const socket = connect(Number(port), hostname, () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
      let answer = '';
      socket.on('data', chunk => (answer += chunk.toString()));
      socket.on('end', () => resolvePromise(answer));
      socket.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toEqual({
      error: {
        code: 'bad_request',
        message: expect.stringMatching(/^The request is not valid HTTP/)
      }
    });
  });
});
