import { describe, expect, it } from 'vitest';
import { DataLakeClient, DataLakeError, splitDid } from '../src/client';
import { stubTransport } from './harness';

describe('the companion API client', () => {
  it('when a name holds slashes and colons, then it travels encoded in one query parameter', async () => {
    const { transport, calls } = stubTransport({
      'GET api/instances/lake/did': { did: {}, metadata: {}, replicas: [], rules: [] }
    });
    await new DataLakeClient(transport).details('lake', 'cms:/store/data/run:1/a b.root');
    expect(calls[0]?.query.get('did')).toBe('cms:/store/data/run:1/a b.root');
    expect(splitDid('cms:/store/data/run:1/a b.root')).toEqual({
      scope: 'cms',
      name: '/store/data/run:1/a b.root'
    });
  });

  it('when the companion answers an error, then the error carries its code and sentence', async () => {
    const { transport } = stubTransport({
      'POST api/instances/lake/make-available': {
        status: 413,
        body: { error: { code: 'quota_exceeded', message: 'Your quota on SCRATCH is used up.' } }
      }
    });
    const error = await new DataLakeClient(transport)
      .makeAvailable('lake', 'a:b')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataLakeError);
    expect(error).toMatchObject({
      status: 413,
      code: 'quota_exceeded',
      message: 'Your quota on SCRATCH is used up.'
    });
  });

  it('when something other than the companion answers with HTML, then the sentence says the service is not running', async () => {
    const client = new DataLakeClient(
      async () => new Response('<html>Bad Gateway</html>', { status: 502 })
    );
    await expect(client.instances()).rejects.toMatchObject({
      code: 'unreachable',
      message: expect.stringContaining('not running')
    });
  });

  it('when the network fails, then the sentence says to check the connection', async () => {
    const client = new DataLakeClient(async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(client.instances()).rejects.toMatchObject({
      status: 0,
      code: 'unreachable',
      message: expect.stringContaining('did not answer')
    });
  });

  it('when the answer breaks off while its body is read, then the sentence says to check the connection, not a TypeError', async () => {
    const broken = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"instances": ['));
        controller.error(new TypeError('network error'));
      }
    });
    const client = new DataLakeClient(async () => new Response(broken, { status: 200 }));
    await expect(client.instances()).rejects.toMatchObject({
      code: 'unreachable',
      message: 'The Jupyter server did not answer. Check your connection, then reload JupyterLab.'
    });
  });

  it('when a translator is given, then the client’s own sentences go through it', async () => {
    const client = new DataLakeClient(async () => new Response('<html>', { status: 502 }), {
      __: (text: string, ...args: unknown[]) => `[fr] ${text.replace('%1', String(args[0]))}`
    } as never);
    await expect(client.instances()).rejects.toMatchObject({
      message: expect.stringMatching(/^\[fr\] The data lake service is not running/)
    });
  });

  it('when a 200 answer is not JSON, then the error says so instead of crashing', async () => {
    const client = new DataLakeClient(async () => new Response('', { status: 200 }));
    await expect(client.instances()).rejects.toMatchObject({ code: 'bad_answer' });
  });

  it('when all local paths are asked for, then windows are read until the list ends', async () => {
    const total = 12_001;
    const { transport, calls } = stubTransport({
      'GET api/instances/lake/paths': call => {
        const offset = Number(call.query.get('offset'));
        const limit = Number(call.query.get('limit'));
        const items = Array.from(
          { length: Math.max(0, Math.min(limit, total - offset)) },
          (_, i) => ({
            scope: 's',
            name: `f${offset + i}`,
            path: `/lake/f${offset + i}`,
            bytes: 1
          })
        );
        return { items, offset, limit, total, complete: offset + items.length >= total };
      }
    });
    const paths = await new DataLakeClient(transport).allLocalPaths('lake', 's:d');
    expect(paths).toHaveLength(total);
    expect(paths[total - 1]?.path).toBe(`/lake/f${total - 1}`);
    expect(calls).toHaveLength(3);
  });
});
