import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CredentialSource } from '../src/auth/credentials.js';
import type { InstanceConfig } from '../src/config.js';
import { AppError } from '../src/errors.js';
import { RucioClient } from '../src/rucio/client.js';

const instance: InstanceConfig = {
  name: 'lake',
  rucioUrl: 'http://rucio.invalid',
  auth: { method: 'userpass', username: 'u', password: 'p' },
  scratchRse: 'SCRATCH'
};

function credentials(): CredentialSource & { refreshed: number } {
  return {
    method: 'userpass',
    configuredAccount: 'alice',
    refreshed: 0,
    async token(refresh?: boolean) {
      if (refresh) {
        this.refreshed++;
      }
      return {
        value: `token-${this.refreshed}`,
        expiresAt: Date.now() + 3600_000,
        account: 'alice'
      };
    }
  };
}

/** A response whose body arrives in the given chunks, then ends or breaks. */
function streamed(chunks: string[], breakAtEnd = false): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) {
        controller.enqueue(encoder.encode(chunk));
      }
      if (breakAtEnd) {
        controller.error(new Error('socket hang up'));
      } else {
        controller.close();
      }
    }
  });
  return new Response(body, { status: 200 });
}

async function all<T>(lines: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const line of lines) {
    out.push(line);
  }
  return out;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('RucioClient.lines', () => {
  it('when lines are split across chunks, then each JSON value comes out whole', async () => {
    vi.stubGlobal('fetch', async () => streamed(['{"a":1}\n{"a"', ':2}\n', '\n{"a":3}\n']));
    expect(await all(new RucioClient(instance, credentials()).lines('GET', '/x'))).toEqual([
      { a: 1 },
      { a: 2 },
      { a: 3 }
    ]);
  });

  it('when the body is empty, then the list is empty', async () => {
    vi.stubGlobal('fetch', async () => streamed([]));
    expect(await all(new RucioClient(instance, credentials()).lines('GET', '/x'))).toEqual([]);
  });

  it('when the stream breaks off or ends inside a line, then it is reported as cut short', async () => {
    vi.stubGlobal('fetch', async () => streamed(['{"a":1}\n'], true));
    await expect(all(new RucioClient(instance, credentials()).lines('GET', '/x'))).rejects.toThrow(
      /broke off its answer/
    );
    vi.stubGlobal('fetch', async () => streamed(['{"a":1}\n{"a":']));
    await expect(all(new RucioClient(instance, credentials()).lines('GET', '/x'))).rejects.toThrow(
      /broke off its answer/
    );
  });
});

describe('RucioClient.request', () => {
  it('when Rucio refuses the cached token, then a fresh one is fetched and the request sent once more', async () => {
    const sent: string[] = [];
    vi.stubGlobal('fetch', async (_url: URL, init: RequestInit) => {
      const token = (init.headers as Record<string, string>)['X-Rucio-Auth-Token'] as string;
      sent.push(token);
      return token === 'token-0'
        ? new Response('', { status: 401 })
        : new Response('["x"]', { status: 200 });
    });
    const creds = credentials();
    expect(await new RucioClient(instance, creds).json('GET', '/scopes/')).toEqual(['x']);
    expect(sent).toEqual(['token-0', 'token-1']);
  });

  it('when a name holds slashes, then the URL keeps them encoded in one segment', async () => {
    let url = '';
    vi.stubGlobal('fetch', async (u: URL) => {
      url = u.toString();
      return new Response('{}', { status: 200 });
    });
    const { didPath } = await import('../src/rucio/client.js');
    await new RucioClient(instance, credentials()).json('GET', didPath('cms', '/store/a.root'));
    expect(url).toBe('http://rucio.invalid/dids/cms/%2Fstore%2Fa.root');
  });

  it('when Rucio cannot be reached, then the error says so with a 502', async () => {
    vi.stubGlobal('fetch', async () => {
      throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') });
    });
    const error = await new RucioClient(instance, credentials())
      .json('GET', '/scopes/')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({
      status: 502,
      code: 'rucio_unreachable',
      message: expect.stringMatching(/ECONNREFUSED/)
    });
  });
});
