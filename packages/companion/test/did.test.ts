import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDid } from '../src/did.js';
import { AppError } from '../src/errors.js';

describe('parseDid', () => {
  it('when the name holds colons and slashes, then only the first colon splits', () => {
    expect(parseDid('atlas_opendata:/store/data/x.root')).toEqual({
      scope: 'atlas_opendata',
      name: '/store/data/x.root'
    });
  });

  it('when wildcards are allowed, then * and % pass in the name', () => {
    expect(parseDid('lofar:L6*', { wildcards: true })).toEqual({ scope: 'lofar', name: 'L6*' });
    expect(() => parseDid('lofar:L6*')).toThrow(AppError);
  });

  it('when a name has a .. segment, then it is refused', () => {
    expect(() => parseDid('user.alice:a/../b')).toThrow(/no "\.\." segment/);
  });

  it('when any string is given, then the answer is a DID that round-trips or a 400 with a sentence', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), text => {
        try {
          const did = parseDid(text);
          expect(`${did.scope}:${did.name}`).toBe(text);
          expect(did.name.split('/')).not.toContain('..');
        } catch (error) {
          expect(error).toBeInstanceOf(AppError);
          expect((error as AppError).status).toBe(400);
          expect((error as AppError).message).toMatch(/\.$/);
        }
      }),
      { numRuns: 2000 }
    );
  });
});
