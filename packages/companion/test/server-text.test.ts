import { describe, expect, it } from 'vitest';
import { rucioException, tame, unreachable } from '../src/rucio/errors.js';

/** What a server says reaches the panel only as a short, plain sentence part without passwords. */
describe('text from servers in sentences', () => {
  it('when Rucio answers with a 20,000-character message full of control characters, then the panel gets at most 300 plain characters', async () => {
    const body = JSON.stringify({
      ExceptionClass: 'DataIdentifierNotFound',
      ExceptionMessage: `Data identifier not found.\u001b[31m${'x'.repeat(20_000)}\r\n`
    });
    const { exceptionClass, message } = await rucioException(new Response(body, { status: 404 }));
    expect(exceptionClass).toBe('DataIdentifierNotFound');
    expect(message.length).toBeLessThanOrEqual(300);
    expect(message).toMatch(/^Data identifier not found\.x+…$/);
  });

  it('when a message names a URL with a user and password, then they are gone', async () => {
    const body = JSON.stringify({
      ExceptionClass: 'RSEProtocolNotSupported',
      ExceptionMessage:
        'cannot reach davs://alice:s3cret@storage.example.org:443/scratch and root://svc@eos//x'
    });
    const { message } = await rucioException(new Response(body, { status: 500 }));
    expect(message).toBe('cannot reach davs://storage.example.org:443/scratch and root://eos//x');
    expect(
      unreachable('lake', 'https://rucio', new Error('connect to https://u:p@host failed')).message
    ).not.toContain('u:p@');
  });

  it.each([
    ['short text', 'short text'],
    ['  spaced\t\tout\n', 'spaced out'],
    ['https://example.org/a@b', 'https://example.org/a@b']
  ])('when the text is %j, then it reads %j', (text, expected) => {
    expect(tame(text)).toBe(expected);
  });
});
