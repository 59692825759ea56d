/**
 * A failure of the launcher that the user can act on: `message` is one sentence saying what went
 * wrong and what to do; `detail` holds the last lines of the tool that failed, if any.
 */
export class LabError extends Error {
  override readonly name = 'LabError';

  constructor(
    message: string,
    readonly detail?: string
  ) {
    super(message);
  }
}

/** The last lines of a tool's output, to show under a one-sentence error. */
export function tail(text: string, lines = 10): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
