/**
 * An error a devlake user can meet. Its message is a sentence that says what happened and what to
 * do; the CLI prints it without a stack trace.
 */
export class DevlakeError extends Error {
  override readonly name = 'DevlakeError';
}
