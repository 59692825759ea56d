import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Adler32, sameAdler32 } from '../src/adler32.js';

/** Adler-32 as its definition reads: one byte, two reductions. */
function plainAdler32(bytes: Uint8Array): string {
  let low = 1;
  let high = 0;
  for (const byte of bytes) {
    low = (low + byte) % 65521;
    high = (high + low) % 65521;
  }
  return (high * 65536 + low).toString(16).padStart(8, '0');
}

describe('Adler32', () => {
  it('when known texts are summed, then the sums are the published ones', () => {
    expect(new Adler32().hex()).toBe('00000001');
    expect(new Adler32().update(Buffer.from('Wikipedia')).hex()).toBe('11e60398');
    expect(new Adler32().update(Buffer.from('abc')).hex()).toBe('024d0127');
  });

  it('when long runs of 0xff are summed (the largest sums between reductions), then the sum is the plain one', () => {
    for (const length of [1, 15, 16, 17, 3799, 3800, 3801, 5552, 7600, 100_000, 1 << 20]) {
      const bytes = new Uint8Array(length).fill(0xff);
      expect(new Adler32().update(bytes).hex(), `${length} bytes`).toBe(plainAdler32(bytes));
    }
  });

  it('when bytes come in chunks of any size, then the sum is that of the whole', () => {
    const bytes = randomBytes(50_000);
    const whole = plainAdler32(bytes);
    expect(new Adler32().update(bytes).hex()).toBe(whole);
    for (const size of [1, 7, 16, 3800, 3801, 4096, 65_536]) {
      const sum = new Adler32();
      for (let at = 0; at < bytes.length; at += size) {
        sum.update(bytes.subarray(at, at + size));
      }
      expect(sum.hex(), `chunks of ${size}`).toBe(whole);
    }
  });

  it('when two texts differ only by leading zeros, then they name the same checksum', () => {
    expect(sameAdler32('0001abcd', '1abcd')).toBe(true);
    expect(sameAdler32('0001abcd', '1abce')).toBe(false);
    expect(sameAdler32('', '0')).toBe(false);
  });
});
