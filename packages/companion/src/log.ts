/** Log levels, least to most severe. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Keys whose values are never logged, whatever calls `log`. */
const SECRET_KEY = /token|password|secret|authorization|cookie|key/i;

function threshold(): number {
  const level = process.env['DLAAS_LOG_LEVEL'] as LogLevel | undefined;
  return ORDER[level ?? 'info'] ?? ORDER.info;
}

/**
 * Writes one structured log line (JSON) to stderr. Values of keys that look like secrets are
 * replaced, so a token cannot reach the log by mistake.
 */
export function log(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
  if (ORDER[level] < threshold()) {
    return;
  }
  const safe: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    safe[key] = SECRET_KEY.test(key) ? '[hidden]' : value;
  }
  process.stderr.write(
    JSON.stringify({ time: new Date().toISOString(), level, message, ...safe }) + '\n'
  );
}
