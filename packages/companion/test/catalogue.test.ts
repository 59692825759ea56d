import { afterEach, describe, expect, it, vi } from 'vitest';
import { ScratchCatalogue } from '../src/fuse/catalogue.js';
import { RucioClient } from '../src/rucio/client.js';
import { credentials, instance } from './stand-in.js';

/**
 * The FUSE folder's catalogue with a stand-in for Rucio's transport: alice has two datasets on
 * the scratch RSE, one of them named without a letter or digit, whose replicas Rucio's listing
 * refuses (as Rucio 41 does: 400 InvalidObject "Problem validating r_dids").
 */
afterEach(() => {
  vi.unstubAllGlobals();
});

function rule(id: string, name: string): string {
  return JSON.stringify({
    id,
    account: 'alice',
    rse_expression: 'SCRATCH',
    copies: 1,
    state: 'OK',
    locks_ok_cnt: 1,
    locks_replicating_cnt: 0,
    locks_stuck_cnt: 0,
    expires_at: null,
    created_at: 'Wed, 02 Dec 2026 06:00:00 UTC',
    did_type: 'DATASET',
    scope: 'user.alice',
    name
  });
}

describe('the data lake folder’s catalogue', () => {
  it('when Rucio cannot list one made-available DID, then the others are still in the folder (but not a file a URL cannot name), and that one is read again only when its rule changes', async () => {
    const listed: string[] = [];
    vi.stubGlobal('fetch', async (url: URL, init: RequestInit) => {
      if (url.pathname === '/rules/') {
        return new Response(`${rule('r1', '/-.-')}\n${rule('r2', 'good')}\n`);
      }
      if (url.pathname === '/replicas/list') {
        const name = (JSON.parse(String(init.body)) as { dids: { name: string }[] }).dids[0]?.name;
        listed.push(name ?? '');
        if (name === '/-.-') {
          return new Response(
            JSON.stringify({
              ExceptionClass: 'InvalidObject',
              ExceptionMessage: "Problem validating r_dids: '/-.-' does not match '\\\\w'"
            }),
            { status: 400 }
          );
        }
        const line = (name: string): string =>
          JSON.stringify({
            scope: 'user.alice',
            name,
            bytes: 10,
            adler32: '0000000a',
            rses: { SCRATCH: [`http://storage.invalid/rucio/user/alice/ab/cd/${name}`] }
          });
        // A file whose PFN has a .. segment cannot be read as itself: not in the folder.
        return new Response(`${line('good/f1')}\n${line('good/x/../f1')}\n`);
      }
      return new Response('{}', { status: 404 });
    });
    const catalogue = new ScratchCatalogue(new RucioClient(instance, credentials));
    const first = await catalogue.read();
    expect(first.claims.filter(c => c.file).map(c => c.file?.did)).toEqual(['user.alice:good/f1']);
    await catalogue.read();
    expect(listed.filter(n => n === '/-.-')).toHaveLength(1);
  });
});
