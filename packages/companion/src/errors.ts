import type { ErrorCode } from '@dlaas/api';

/**
 * The one error type of the companion: an HTTP status, a code the panel can act on, and a
 * sentence for the user that says what happened and what to do.
 */
export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string
  ) {
    super(message);
  }
}

/** 400 with a sentence. */
export function badRequest(message: string): AppError {
  return new AppError(400, 'bad_request', message);
}
