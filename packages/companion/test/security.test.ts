import type { NextFunction, Request, Response } from 'express';
import { describe, expect, it } from 'vitest';
import { xsrfCheck } from '../src/api/security.js';

/** The XSRF middleware on its own: what it hands to `next`. */
function check(cookie: string, header: string | undefined): unknown {
  let passed: unknown = 'not called';
  const req = {
    method: 'POST',
    headers: { cookie },
    get: (name: string) => (name.toLowerCase() === 'x-xsrftoken' ? header : undefined)
  } as unknown as Request;
  xsrfCheck(req, {} as Response, ((error?: unknown) => (passed = error)) as NextFunction);
  return passed;
}

describe('the XSRF check', () => {
  it('when the cookie and the header agree, then the request goes on', () => {
    expect(check('_xsrf=2%7Cabc; other=1', '2|abc')).toBeUndefined();
  });

  it.each([
    ['a malformed %-escape in the cookie', '_xsrf=%E0%A4%A', '%E0%A4%A'],
    ['no header', '_xsrf=abc', undefined],
    ['a header that differs', '_xsrf=abc', 'abd']
  ])('when %s, then it is a 403 with a sentence, not a 500', (_what, cookie, header) => {
    expect(check(cookie, header)).toMatchObject({
      status: 403,
      message: expect.stringMatching(/XSRF token/)
    });
  });
});
