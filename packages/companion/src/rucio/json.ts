/** Parses JSON as Rucio writes it, where an unlimited number is the bare word `Infinity`. */
export function parseRucioJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return JSON.parse(
      text.replace(/(?<=[:[,]\s*)(-?)Infinity(?=\s*[,\]}])/g, (_m, sign: string) => `${sign}1e999`)
    ) as unknown;
  }
}

/** Parses Rucio's date format (RFC 1123 with "UTC") into an ISO string; null when absent. */
export function rucioDate(value: unknown): string | null {
  if (typeof value !== 'string' || value === '') {
    return null;
  }
  const ms = Date.parse(value.replace(/ UTC$/, ' GMT'));
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

/** A number from Rucio (which sends some sizes as floats, e.g. `2495000.0`), or null. */
export function rucioNumber(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
