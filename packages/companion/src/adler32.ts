/** Adler-32's modulus, the largest prime below 2^16. */
const BASE = 65521;
/** Bytes that can be added before the sums may pass 2^53 and must be reduced (zlib's NMAX). */
const RUN = 5552;

/**
 * Adler-32, the checksum Rucio keeps for every file, computed over chunks as they stream by.
 * A download that resumes feeds it the bytes already on disk first, then the new ones.
 */
export class Adler32 {
  private low = 1;
  private high = 0;

  /** Adds the bytes of `chunk`. */
  update(chunk: Uint8Array): this {
    let low = this.low;
    let high = this.high;
    for (let start = 0; start < chunk.length; start += RUN) {
      const stop = Math.min(start + RUN, chunk.length);
      for (let i = start; i < stop; i++) {
        low += chunk[i] as number;
        high += low;
      }
      low %= BASE;
      high %= BASE;
    }
    this.low = low;
    this.high = high;
    return this;
  }

  /** Rucio's form: 8 lower-case hex digits. */
  hex(): string {
    return (this.high * 65536 + this.low).toString(16).padStart(8, '0');
  }
}

/**
 * Whether two Adler-32 texts name the same checksum: Rucio keeps them as hex without leading
 * zeros in some lakes, with them in others.
 */
export function sameAdler32(a: string, b: string): boolean {
  return (
    /^[0-9a-f]{1,8}$/i.test(a) && /^[0-9a-f]{1,8}$/i.test(b) && parseInt(a, 16) === parseInt(b, 16)
  );
}
