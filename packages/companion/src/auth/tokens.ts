/** Tokens are renewed this long before they expire. */
const RENEW_BEFORE_MS = 5 * 60_000;

/**
 * True while a token that expires at `expiresAt` (ms since the epoch) needs no renewal yet: five
 * minutes before, or, for a token that lives less than 20 minutes in all (its `issuedAt` known),
 * a quarter of its life before; so that a one-minute token is not fetched again on every request.
 */
export function stillFresh(expiresAt: number, issuedAt?: number): boolean {
  const margin =
    issuedAt === undefined
      ? RENEW_BEFORE_MS
      : Math.min(RENEW_BEFORE_MS, Math.max(0, expiresAt - issuedAt) / 4);
  return expiresAt - Date.now() > margin;
}
