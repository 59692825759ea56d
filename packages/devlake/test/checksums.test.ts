import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Adler32, adler32 } from '../src/adler32.js';
import { hashedPath, NAME_PATTERN } from '../src/lfn.js';

/** Adler-32 straight from its definition, to check the chunked implementation against. */
function referenceAdler32(data: Uint8Array): string {
  let a = 1;
  let b = 0;
  for (const byte of data) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b * 65536 + a) >>> 0).toString(16).padStart(8, '0');
}

describe('adler32', () => {
  it('when given the textbook example "Wikipedia", then it gives 11e60398', () => {
    expect(adler32(Buffer.from('Wikipedia'))).toBe('11e60398');
  });

  it('when given no bytes, then it gives 00000001', () => {
    expect(adler32(new Uint8Array())).toBe('00000001');
  });

  it('when data arrives in arbitrary chunks, then the sum equals the one-pass definition', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 20_000 }),
        fc.integer({ min: 1, max: 7000 }),
        (data, chunk) => {
          const sum = new Adler32();
          for (let i = 0; i < data.length; i += chunk) {
            sum.update(data.subarray(i, i + chunk));
          }
          expect(sum.hex()).toBe(referenceAdler32(data));
        }
      )
    );
  });

  it('when a long run of 0xff bytes is summed, then the accumulators do not overflow', () => {
    const data = new Uint8Array(100_000).fill(255);
    expect(adler32(data)).toBe(referenceAdler32(data));
  });
});

describe('hashedPath', () => {
  // Rucio 41's server computed this PFN path for the file (POST /replicas/list on devlake).
  it('when the name starts with a slash, then the path keeps it after the hash directories', () => {
    expect(hashedPath('atlas_opendata', '/store/data/2020/13TeV/GamGam/data_A.GamGam.root')).toBe(
      'atlas_opendata/1c/92//store/data/2020/13TeV/GamGam/data_A.GamGam.root'
    );
  });

  it('when the scope is a user scope, then its dots become directories', () => {
    expect(hashedPath('user.alice', 'x')).toMatch(/^user\/alice\/[0-9a-f]{2}\/[0-9a-f]{2}\/x$/);
  });

  it('when the scope is not a user or group scope, then it is kept as one directory', () => {
    expect(hashedPath('cta.sim', 'x')).toMatch(/^cta\.sim\/[0-9a-f]{2}\/[0-9a-f]{2}\/x$/);
  });

  it('when names differ, then they land in directories chosen by md5 of scope:name', () => {
    fc.assert(
      fc.property(fc.stringMatching(NAME_PATTERN), name => {
        const path = hashedPath('lofar', name);
        expect(path.endsWith(`/${name}`)).toBe(true);
        expect(
          path
            .split('/')
            .slice(1, 3)
            .every(part => /^[0-9a-f]{2}$/.test(part))
        ).toBe(true);
      })
    );
  });
});
