import { afterEach, describe, expect, it, vi } from 'vitest';
import { Availabilities } from '../src/domain/availability.js';
import { PathResolver } from '../src/domain/paths.js';
import { RucioClient } from '../src/rucio/client.js';
import { credentials, instance } from './stand-in.js';

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('local paths of names a file system would change', () => {
  it('when a file on scratch is named with a .. segment, then it has no path and the answer says why', async () => {
    const pfn = (name: string): string => `http://storage.invalid/rucio/user/alice/ab/cd/${name}`;
    vi.stubGlobal('fetch', async (url: URL) => {
      if (url.pathname === '/replicas/list') {
        const lines = ['run/b.dat', 'run/x/../b.dat'].map(name =>
          JSON.stringify({ scope: 'user.alice', name, bytes: 1, rses: { SCRATCH: [pfn(name)] } })
        );
        return new Response(`${lines.join('\n')}\n`);
      }
      return new Response('{}', { status: 404 });
    });
    const resolver = new PathResolver({
      mode: 'prefix',
      mappings: [{ pfnPrefix: 'http://storage.invalid/rucio/', localPrefix: '/scratch' }]
    });
    const availabilities = new Availabilities(new RucioClient(instance, credentials), {}, resolver);
    const window = await availabilities.localPaths({ scope: 'user.alice', name: 'run' }, 0, 10);
    expect(window.items).toEqual([
      {
        scope: 'user.alice',
        name: 'run/b.dat',
        path: '/scratch/user/alice/ab/cd/run/b.dat',
        bytes: 1
      },
      {
        scope: 'user.alice',
        name: 'run/x/../b.dat',
        path: null,
        bytes: 1,
        problem: expect.stringMatching(
          /^user\.alice:run\/x\/\.\.\/b\.dat has no local path: its name has a "\." or "\.\." segment/
        )
      }
    ]);
    availabilities.dispose();
  });
});
