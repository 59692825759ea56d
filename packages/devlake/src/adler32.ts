/** Largest number of bytes that can be summed before the 32-bit accumulators must be reduced. */
const NMAX = 5552;
const MOD = 65521;

/**
 * Incremental Adler-32, the checksum Rucio records for every file. Feed it chunks with
 * {@link Adler32.update}; {@link Adler32.hex} gives Rucio's form (8 lower-case hex digits).
 */
export class Adler32 {
  private a = 1;
  private b = 0;

  /** Adds `chunk` to the running checksum. */
  update(chunk: Uint8Array): this {
    let { a, b } = this;
    let offset = 0;
    while (offset < chunk.length) {
      const end = Math.min(offset + NMAX, chunk.length);
      for (let i = offset; i < end; i++) {
        a += chunk[i] as number;
        b += a;
      }
      a %= MOD;
      b %= MOD;
      offset = end;
    }
    this.a = a;
    this.b = b;
    return this;
  }

  /** The checksum as Rucio writes it, e.g. `0a1b2c3d`. */
  hex(): string {
    return (((this.b << 16) | this.a) >>> 0).toString(16).padStart(8, '0');
  }
}

/** Adler-32 of a whole buffer, in Rucio's hex form. */
export function adler32(data: Uint8Array): string {
  return new Adler32().update(data).hex();
}
