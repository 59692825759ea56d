/** Tokens are renewed this long before they expire. */
const RENEW_BEFORE_MS = 5 * 60_000;

/** True while a token that expires at `expiresAt` (ms since the epoch) needs no renewal yet. */
export function stillFresh(expiresAt: number): boolean {
  return expiresAt - Date.now() > RENEW_BEFORE_MS;
}
