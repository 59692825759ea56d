import { stripVTControlCharacters } from 'node:util';
import { AppError } from '../errors.js';

/** What the companion was doing when Rucio answered with an error, for the sentence. */
export interface ErrorContext {
  readonly instance: string;
  readonly did?: string;
  readonly rse?: string;
}

/** Reads Rucio's exception class and message from an error answer. */
export async function rucioException(
  response: Response
): Promise<{ exceptionClass: string | undefined; message: string }> {
  let exceptionClass = response.headers.get('exceptionclass') ?? undefined;
  let message = response.headers.get('exceptionmessage') ?? '';
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { ExceptionClass?: unknown; ExceptionMessage?: unknown };
    if (typeof body.ExceptionClass === 'string') {
      exceptionClass = body.ExceptionClass;
    }
    if (typeof body.ExceptionMessage === 'string') {
      message = body.ExceptionMessage;
    }
  } catch {
    // Flask's HTML 404 or an empty body: the status says enough.
  }
  return {
    exceptionClass: exceptionClass === undefined ? undefined : tame(exceptionClass, 100),
    message: tame(message)
  };
}

/** The longest text from a server that goes into a sentence for the panel. */
export const MAX_SERVER_TEXT = 300;

/**
 * Text from a server (Rucio's exception message, a network error) made fit for a sentence: no
 * control characters, runs of white space as one space, no `user:password@` in URLs, and at
 * most `max` characters (cut with "…").
 */
export function tame(text: string, max = MAX_SERVER_TEXT): string {
  const plain = stripVTControlCharacters(text)
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1')
    .replace(/\s+/g, ' ')
    .trim();
  return plain.length > max ? `${plain.slice(0, max - 1)}…` : plain;
}

/**
 * `text` (Rucio's reason) as the end of a sentence: with a full stop, unless it ends with one of
 * its own, so that "plugin." followed by the companion's next sentence does not read "plugin..".
 */
export function asSentenceEnd(text: string): string {
  return /[.!?…]$/.test(text) ? text : `${text}.`;
}

/**
 * Turns a Rucio error into an AppError whose sentence says what happened and what to do, in the
 * user's words rather than Rucio's.
 */
export function mapRucioError(
  status: number,
  exceptionClass: string | undefined,
  message: string,
  context: ErrorContext
): AppError {
  const what = context.did ? `"${context.did}"` : 'that';
  switch (exceptionClass) {
    case 'DataIdentifierNotFound':
    case 'ScopeNotFound':
      return new AppError(
        404,
        'not_found',
        `${context.did ? `The data identifier ${what}` : 'What you asked for'} does not exist in ${context.instance}. Check the spelling, or search for it.`
      );
    case 'CannotAuthenticate':
      return new AppError(
        401,
        'not_signed_in',
        `Your sign-in to ${context.instance} has expired or was refused. Sign in to ${context.instance} again.`
      );
    case 'AccessDenied':
      return new AppError(
        403,
        'forbidden',
        `${context.instance} does not allow your account to do this${context.did ? ` on ${what}` : ''}. Ask the data lake's admins for access if you need it.`
      );
    case 'InsufficientAccountLimit':
      return new AppError(
        409,
        'quota_exceeded',
        `Your quota on ${context.rse ?? 'the scratch storage'} is too small to make ${what} available. Free space by letting older data expire, or ask the data lake's admins for more quota.`
      );
    case 'RSEWriteBlocked':
      return new AppError(
        503,
        'rse_blocked',
        `The scratch storage ${context.rse ?? ''} does not accept new data right now (its admins blocked writing). Try again later, or tell the data lake's admins.`.replace(
          '  ',
          ' '
        )
      );
    case 'InvalidRSEExpression':
    case 'InsufficientTargetRSEs':
    case 'RSENotFound':
      return new AppError(
        502,
        'not_configured',
        `The scratch storage configured for ${context.instance} (${context.rse ?? 'its RSE expression'}) is not usable in Rucio (${exceptionClass}). Tell the hub's admins to fix the companion's configuration.`
      );
    case 'DuplicateRule':
      return new AppError(
        409,
        'conflict',
        `A rule for ${what} toward ${context.rse ?? 'that storage'} exists already.`
      );
    case 'InvalidMetadata':
      return new AppError(
        400,
        'bad_request',
        `${context.instance} cannot run this metadata search: ${asSentenceEnd(message || exceptionClass)} Change the filters and search again.`
      );
    case 'InvalidObject':
      if (/validating r_dids?\b/.test(message)) {
        // The replica listing checks each name against `\w`: names such as "/" or "/-" are
        // stored and copied, but their replicas cannot be listed. Rucio's schema dump says none of it.
        return new AppError(
          409,
          'conflict',
          `${context.instance} cannot list where the files of ${what} are: its replica listing needs a letter, a digit or an underscore in every name, and this name has none. The data is in the lake, but dlaas cannot show or open its files; give it a name with a letter or a digit.`
        );
      }
      return new AppError(
        400,
        'bad_request',
        `${context.instance} refused the request: ${asSentenceEnd(message || exceptionClass)}`
      );
    case 'InvalidValueForKey':
    case 'KeyNotFound':
    case 'UnsupportedOperation':
      return new AppError(
        400,
        'bad_request',
        `${context.instance} refused the request: ${asSentenceEnd(message || exceptionClass)}`
      );
    default:
      if (status === 401) {
        return new AppError(
          401,
          'not_signed_in',
          `${context.instance} did not accept your credentials. Sign in to ${context.instance} again.`
        );
      }
      if (status === 404) {
        return new AppError(
          404,
          'not_found',
          `${context.did ? `The data identifier ${what}` : 'What you asked for'} was not found in ${context.instance}.`
        );
      }
      if (status === 400) {
        // Any other refusal of the request itself (ValueError, DIDFilterSyntaxError, …): the
        // request was bad, not Rucio.
        return new AppError(
          400,
          'bad_request',
          `${context.instance} refused the request${message || exceptionClass ? `: ${asSentenceEnd(message || exceptionClass || '')}` : '.'} Check what you asked for and try again.`
        );
      }
      return new AppError(
        502,
        'rucio_error',
        `${context.instance} answered with an error (${status}${exceptionClass ? ` ${exceptionClass}` : ''}${message ? `: ${message}` : ''}). Try again; if it persists, tell the data lake's admins.`
      );
  }
}

/** The AppError for a Rucio that cannot be reached at all. */
export function unreachable(instance: string, url: string, cause: unknown): AppError {
  const reason = tame(
    cause instanceof Error
      ? ((cause.cause as Error | undefined)?.message ?? cause.message)
      : String(cause)
  );
  return new AppError(
    502,
    'rucio_unreachable',
    `${instance} (${url}) cannot be reached (${reason}). Check your network or try again in a minute.`
  );
}
