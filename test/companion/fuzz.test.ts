import { ErrorCode } from '@dlaas/api';
import fc from 'fast-check';
import { existsSync, readFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningCompanion } from '../../packages/companion/src/index.js';
import { EXPIRED_JWT, logLines, startCompanion, testConfig } from './harness.js';

/*
 * Property-based fuzzing of the companion's whole HTTP API against the real devlake: every route
 * of packages/companion/src/api/routes.ts with generated instances, DIDs, query strings, JSON
 * bodies and headers. Every answer must be below 500 (one exception, below), an error must be
 * JSON with a code and a sentence, no answer and no log line may hold a secret, and the companion
 * must keep serving.
 *
 * The one legitimate 5xx: 502 `rucio_unreachable` from the instance "down", whose Rucio is
 * configured at a closed port; that is the companion telling the truth about Rucio, not a fault
 * caused by the request. Everything else that reaches Rucio or the storage must come back as what
 * it is (404, 400, 409...), and input Rucio would choke on must be refused before it is sent.
 *
 * Side effects are kept off the shared devlake: make-available and retry get only DIDs that do not
 * exist or that the companion refuses, so no rule is ever made; sign-out and device sign-in are not
 * sent to the device-flow instance (another test file's sign-in lives in its token file), where
 * oidc.test.ts covers them.
 *
 * Requests that once failed run first in each batch (fast-check's `examples`), so that each fix
 * stays covered whatever the random draw.
 */

let companion: RunningCompanion;
let port: number;
const logLevel = process.env['DLAAS_LOG_LEVEL'];

/** The XSRF value this test's "browser" holds; a secret of the user's session as well. */
const XSRF = `fuzz-xsrf-${Math.random().toString(36).slice(2)}`;

/** Every Rucio token the companion used during the run, recorded as its credentials hand them out. */
const heldTokens = new Set<string>();

/** Secrets the configuration and devlake's files hold: passwords, client secrets, keys, tokens. */
function configuredSecrets(): string[] {
  const secrets = [EXPIRED_JWT, XSRF];
  for (const instance of testConfig().instances) {
    const auth = instance.auth as Record<string, unknown>;
    for (const key of ['password', 'clientSecret']) {
      if (typeof auth[key] === 'string') {
        secrets.push(auth[key]);
      }
    }
    if (auth['method'] === 'x509' && typeof auth['key'] === 'string' && existsSync(auth['key'])) {
      // The lines of the private key's base64 body.
      secrets.push(
        ...readFileSync(auth['key'], 'utf8')
          .split('\n')
          .filter(line => line.length >= 40 && !line.startsWith('-----'))
      );
    }
    if (
      auth['method'] === 'device' &&
      typeof auth['tokenFile'] === 'string' &&
      existsSync(auth['tokenFile'])
    ) {
      const stored = JSON.parse(readFileSync(auth['tokenFile'], 'utf8')) as Record<string, unknown>;
      for (const value of [stored['accessToken'], stored['refreshToken']]) {
        if (typeof value === 'string') {
          secrets.push(value);
        }
      }
    }
  }
  return secrets.filter(s => s.length >= 8);
}

const secretsAtStart: string[] = [];

beforeAll(async () => {
  // Debug lines too: more of what the companion writes is scanned for secrets.
  process.env['DLAAS_LOG_LEVEL'] = 'debug';
  secretsAtStart.push(...configuredSecrets());
  companion = await startCompanion();
  port = Number(new URL(companion.address).port);
  for (const { name } of companion.lake.config.instances) {
    const credentials = companion.lake.instance(name).rucio.credentials;
    const token = credentials.token.bind(credentials);
    credentials.token = async refresh => {
      const held = await token(refresh);
      heldTokens.add(held.value);
      return held;
    };
    // Signed in from the start where possible, so that every token is known to the scan.
    await credentials.token().catch(() => undefined);
  }
});

afterAll(async () => {
  await companion?.stop();
  if (logLevel === undefined) {
    delete process.env['DLAAS_LOG_LEVEL'];
  } else {
    process.env['DLAAS_LOG_LEVEL'] = logLevel;
  }
});

// ---------------------------------------------------------------------------------------------
// Sending requests

/** A request as the fuzzer sends it: the raw path (already escaped as it should go on the wire). */
interface FuzzRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string | undefined;
  /** The instance it was sent to, when the route names one. */
  readonly instance?: string | undefined;
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** Everything the companion answered during the run, for the secret scan at the end. */
const answers: string[] = [];

/**
 * Sends one request on its own connection (so that a request the server mishandles cannot stall
 * the next one); an event stream is read up to its first event, then closed.
 */
function send(req: FuzzRequest): Promise<Answer> {
  const headers = { ...req.headers };
  let body: Buffer | undefined = req.body === undefined ? undefined : Buffer.from(req.body, 'utf8');
  const compress = COMPRESS[headers['content-encoding'] ?? ''];
  // Half the bodies that name a Content-Encoding are compressed so, half are not (a body that is
  // not what its Content-Encoding says must be a 400, not a 500).
  if (compress && (body?.length ?? 0) % 2 === 0) {
    body = compress(body ?? Buffer.alloc(0));
  }
  if (body !== undefined) {
    // Without it Node sends a GET or DELETE body unframed, which the server reads as a second,
    // broken request.
    headers['content-length'] = String(body.length);
  }
  return new Promise((resolvePromise, reject) => {
    const outgoing = request(
      {
        host: '127.0.0.1',
        port,
        method: req.method,
        path: req.path,
        headers,
        agent: false
      },
      response => {
        const chunks: Buffer[] = [];
        const events = /^text\/event-stream/.test(response.headers['content-type'] ?? '');
        const done = (): void => {
          const body = Buffer.concat(chunks).toString('utf8');
          answers.push(JSON.stringify(response.headers), body);
          resolvePromise({ status: response.statusCode ?? 0, headers: response.headers, body });
        };
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          if (events && Buffer.concat(chunks).includes('\n\n')) {
            outgoing.destroy();
            done();
          }
        });
        response.on('end', done);
        response.on('error', reject);
      }
    );
    outgoing.setTimeout(60_000, () =>
      outgoing.destroy(new Error(`no answer in 60 s to ${req.method} ${req.path}`))
    );
    outgoing.on('error', error => {
      if (!outgoing.destroyed || error.message.startsWith('no answer')) {
        reject(error);
      }
    });
    outgoing.end(body);
  });
}

const COMPRESS: Record<string, ((data: Buffer) => Buffer) | undefined> = {
  gzip: data => gzipSync(data),
  deflate: data => deflateSync(data),
  br: data => brotliCompressSync(data)
};

const ERROR_CODES = new Set(
  ErrorCode.anyOf.map(literal => (literal as unknown as { const: string }).const)
);

/** Why an answer breaks the rules, or null when it keeps them. */
function problemOf(req: FuzzRequest, answer: Answer): string | null {
  const legitimate5xx = req.instance === 'down' && answer.status === 502;
  if (answer.status >= 500 && !legitimate5xx) {
    return 'a 5xx answer';
  }
  if (answer.status >= 400 && req.method !== 'HEAD') {
    if (!/^application\/json/.test(answer.headers['content-type'] ?? '')) {
      return 'an error answer that is not JSON';
    }
    let error: { code?: unknown; message?: unknown } | undefined;
    try {
      error = (JSON.parse(answer.body) as { error?: typeof error }).error;
    } catch {
      return 'an error answer whose JSON does not parse';
    }
    if (!ERROR_CODES.has(String(error?.code))) {
      return 'an error answer without a known error.code';
    }
    if (typeof error?.message !== 'string' || !/^\S.*[.]$/s.test(error.message)) {
      return 'an error answer without a sentence in error.message';
    }
    if (legitimate5xx && error.code !== 'rucio_unreachable') {
      return 'a 502 from the instance that is down that does not say Rucio is unreachable';
    }
  }
  const json = /^application\/json/.test(answer.headers['content-type'] ?? '');
  // /content sends the file's own bytes, which may be JSON cut by a Range.
  if (answer.status < 300 && json && req.method !== 'HEAD' && !req.path.includes('/content')) {
    try {
      JSON.parse(answer.body);
    } catch {
      return 'a JSON answer that does not parse';
    }
  }
  const text = JSON.stringify(answer.headers) + answer.body;
  if ([...secretsAtStart, ...heldTokens].some(secret => text.includes(secret))) {
    return 'an answer that holds a secret';
  }
  return null;
}

/** Throws, with the request and the answer, when an answer breaks the rules. */
function checkAnswer(req: FuzzRequest, answer: Answer): void {
  const problem = problemOf(req, answer);
  if (problem !== null) {
    const body = req.body === undefined ? '' : ` ${String(req.body).slice(0, 300)}`;
    throw new Error(
      `${problem}: ${req.method} ${req.path.slice(0, 500)} ${JSON.stringify(req.headers)}${body}\n→ ${answer.status} ${answer.body.slice(0, 500)}`
    );
  }
}

async function expectServing(): Promise<void> {
  const health = await send({ method: 'GET', path: '/health', headers: {} });
  expect(health.status).toBe(200);
  expect(JSON.parse(health.body)).toMatchObject({ ok: true });
}

/**
 * Runs up to `numRuns` generated requests (after `examples`, requests that once failed), for at most
 * `seconds` (devlake shares 2 cores with other work, so a slow Rucio shortens the run rather than
 * lengthening the suite), checks each answer, then that the companion still serves.
 */
async function fuzz(
  requests: fc.Arbitrary<FuzzRequest>,
  {
    numRuns,
    seconds,
    examples = []
  }: { numRuns: number; seconds: number; examples?: FuzzRequest[] }
): Promise<void> {
  let sent = 0;
  await fc.assert(
    fc.asyncProperty(requests, async req => {
      sent++;
      checkAnswer(req, await send(req));
    }),
    { numRuns, examples: examples.map(e => [e]), interruptAfterTimeLimit: seconds * 1000 }
  );
  // However slow devlake is (on a loaded machine a request can take seconds), the run must have
  // gone beyond the examples.
  expect(sent).toBeGreaterThanOrEqual(examples.length + 5);
  await expectServing();
}

// ---------------------------------------------------------------------------------------------
// Generators

/** Percent-escapes every byte of the UTF-8 form except unreserved characters (lone surrogates become U+FFFD). */
function escape(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Text for the wire as a hostile client might send it: escaped, or raw where HTTP lets it (printable
 * ASCII but `#`; Node's HTTP parser itself refuses other bytes in the request line, with an empty
 * 400, before the companion sees the request).
 */
const onTheWire = (text: string): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constant(escape(text)) },
    {
      weight: 1,
      arbitrary: fc.constant(
        [...text].map(c => (/^[\u0021-\u007e]$/.test(c) && c !== '#' ? c : escape(c))).join('')
      )
    }
  );

const INSTANCES = ['devlake', 'devlake-bob', 'devlake-x509', 'devlake-oidc', 'down', 'expired'];

const hostileText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme-ascii', maxLength: 30 }),
  fc.constantFrom(
    '',
    '.',
    '..',
    '%',
    '%zz',
    '%E0%A4%A',
    '%00',
    '%2e%2e',
    '%2F',
    '\u0000',
    '\u202e',
    'é',
    '__proto__',
    'constructor',
    'x'.repeat(3000),
    '*',
    ':',
    ' '
  )
);

const instanceName = fc.oneof(
  { weight: 8, arbitrary: fc.constant('devlake') },
  { weight: 5, arbitrary: fc.constantFrom(...INSTANCES) },
  { weight: 1, arbitrary: hostileText.filter(s => s.length > 0) }
);

/** DIDs of devlake's demo data: containers, datasets and files (some with a leading slash). */
const KNOWN_DIDS = [
  'lofar:L600000',
  'lofar:L600000_SAP000_uv',
  'lofar:L600000_SAP001_uv',
  'lofar:L600000/SAP000/L600000_SAP000_SB000_uv.MS.tar',
  'lofar:L700000',
  'lofar:L700000_subbands',
  'lofar:L700000/subbands/SB00042.h5',
  'atlas_opendata:2020_13TeV',
  'atlas_opendata:2020_13TeV.GamGam.data',
  'atlas_opendata:/store/data/2020/13TeV/GamGam/data_A.GamGam.root',
  'cta:prod5',
  'cta:prod5.proton',
  'cta:calib.unreachable',
  'cta:calib/unreachable_0.fits',
  'user.alice:analysis',
  'user.alice:analysis.v1',
  'user.alice:analysis.v1/histograms.csv',
  'user.alice:analysis.v1/README.txt',
  'user.alice:analysis.v1/selection.json'
];

const SCOPES = ['lofar', 'cta', 'atlas_opendata', 'user.alice', 'user.bob', 'bench', 'no.such'];

/** A DID that passes the companion's checks but names nothing in devlake (random names). */
const unknownDid = fc
  .tuple(
    fc.constantFrom(...SCOPES),
    fc.stringMatching(
      /^\/?[A-Za-z0-9][A-Za-z0-9._-]{0,20}(\/[A-Za-z0-9_-][A-Za-z0-9._-]{0,10}){0,3}$/
    )
  )
  .map(([scope, name]) => `${scope}:fuzz-${name}`.replace(':fuzz-/', ':/fuzz-'));

const hostileDid = fc.oneof(
  hostileText,
  fc.tuple(fc.constantFrom(...SCOPES), hostileText).map(([scope, name]) => `${scope}:${name}`),
  fc.tuple(hostileText, fc.constantFrom('L600000', 'x')).map(([scope, name]) => `${scope}:${name}`),
  fc.constantFrom(
    'lofar:..',
    'lofar:a/../b',
    'lofar:./L600000',
    '..:L600000',
    '.:L600000',
    '..:..',
    '..:accounts',
    '..:whoami',
    'lofar:/',
    'lofar://',
    'lofar:///',
    'lofar:L600000/',
    'lofar:/L600000',
    'lofar:L600000//x',
    'lofar:%',
    'lofar:%25',
    'lofar:*',
    'lofar:L6%',
    ':',
    '::',
    'a:b:c',
    'LOFAR:L600000',
    ' lofar:L600000',
    'lofar:L600000\n',
    `lofar:${'x'.repeat(250)}`,
    `lofar:${'x'.repeat(251)}`,
    `${'x'.repeat(25)}:x`,
    `${'x'.repeat(10_000)}:y`,
    '__proto__:constructor'
  )
);

/** A DID for read-only routes: mostly real ones, so that Rucio and the storage are reached. */
const anyDid = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...KNOWN_DIDS) },
  { weight: 2, arbitrary: unknownDid },
  { weight: 2, arbitrary: hostileDid }
);

/**
 * A DID for routes that create rules: nothing that exists and could get a new rule, nor anything
 * near a demo DID's name that Rucio might read as that DID (a trailing slash, say).
 */
const harmlessDid = fc.oneof(
  unknownDid,
  hostileDid.filter(did => !/L[67]00000|prod5|calib|analysis|2020_13TeV/.test(did))
);

/** Numbers as a careless or hostile client writes them. */
const oddNumberText = fc.oneof(
  fc.integer({ min: -10, max: 6000 }).map(String),
  fc.constantFrom(
    '',
    ' ',
    '-1',
    '-0',
    '1.5',
    '1e3',
    '0x10',
    'NaN',
    'Infinity',
    '-Infinity',
    'null',
    '99999999999999999999999',
    '100000001',
    '5001',
    'ten'
  ),
  fc.string({ maxLength: 8 })
);

const oddSortText = fc.oneof(
  fc.constantFrom('NAME', 'date', 'name,size', '-size', ' name'),
  fc.string({ maxLength: 8 })
);

/** Mostly `usual`, once in `oneIn` draws `odd`. */
function mostly<T>(usual: fc.Arbitrary<T>, odd: fc.Arbitrary<T>, oneIn = 5): fc.Arbitrary<T> {
  return fc.oneof({ weight: oneIn - 1, arbitrary: usual }, { weight: 1, arbitrary: odd });
}

/** `value` once in `oneIn` draws, else null. */
function rarely<T>(value: fc.Arbitrary<T>, oneIn: number): fc.Arbitrary<T | null> {
  return fc.oneof(
    { weight: oneIn - 1, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: value }
  );
}

/**
 * A query string: `did` (usually), `offset`, `limit` and `sort` (usually sensible), and now and
 * then repeated or unknown keys, PHP-style arrays, odd values and broken escapes.
 */
function queryOf(did: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const oddPair = fc.tuple(
    fc.constantFrom(
      'did',
      'did[]',
      'did[0]',
      'DID',
      '__proto__',
      'toString',
      'x',
      'offset',
      'limit',
      'sort'
    ),
    fc.oneof(did, hostileText, oddNumberText)
  );
  return fc
    .record({
      did: fc.option(did, { freq: 8 }),
      known: fc.record(
        {
          offset: mostly(fc.integer({ min: 0, max: 300 }).map(String), oddNumberText, 8),
          limit: mostly(fc.integer({ min: 1, max: 300 }).map(String), oddNumberText, 8),
          sort: mostly(fc.constantFrom('name', 'size', 'rucio', ''), oddSortText, 8)
        },
        { requiredKeys: [] }
      ),
      odd: rarely(fc.array(oddPair, { minLength: 1, maxLength: 3 }), 8),
      garbage: rarely(fc.constantFrom('&', '&&', '=', '&=x', '%', '%zz', '+', '#frag'), 6)
    })
    .chain(({ did: first, known, odd, garbage }) => {
      const all: [string, string][] = [
        ...(first === null ? [] : [['did', first] as [string, string]]),
        ...Object.entries(known),
        ...(odd ?? [])
      ];
      return fc.tuple(...all.map(([k, v]) => fc.tuple(onTheWire(k), onTheWire(v)))).map(encoded => {
        const text = encoded.map(([k, v]) => `${k}=${v}`).join('&') + (garbage ?? '');
        return text === '' ? '' : `?${text}`;
      });
    });
}

/** Headers a browser (or something pretending to be one) sends; XSRF right in most requests. */
const headersArb = fc
  .record({
    xsrf: fc.oneof(
      { weight: 12, arbitrary: fc.constant('right') },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          'none',
          'cookie-only',
          'header-only',
          'mismatch',
          'malformed-cookie',
          'empty',
          'two-cookies'
        )
      }
    ),
    contentType: fc.option(
      fc.oneof(
        fc.constantFrom(
          'application/json',
          'application/json; charset=utf-8',
          'application/json; charset=utf-16',
          'application/json; charset=latin1',
          'text/plain',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          '',
          '*/*'
        ),
        fc.string({ unit: 'grapheme-ascii', maxLength: 30 })
      ),
      { freq: 3 }
    ),
    contentEncoding: rarely(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-junk'), 10),
    accept: fc.option(fc.constantFrom('*/*', 'text/html', 'application/json', 'text/event-stream')),
    origin: rarely(fc.constantFrom('own', 'http://evil.example', 'null', 'http://localhost'), 10),
    host: rarely(fc.constantFrom('localhost', 'evil.example', '[::1]', '127.0.0.1:1', ''), 15)
  })
  .map(({ xsrf, contentType, contentEncoding, accept, origin, host }) => {
    const headers: Record<string, string> = {};
    const cookie: Record<string, string> = {
      right: `_xsrf=${XSRF}`,
      'cookie-only': `_xsrf=${XSRF}`,
      mismatch: `_xsrf=${XSRF}x`,
      'malformed-cookie': '_xsrf=%E0%A4%A',
      empty: '_xsrf=',
      'two-cookies': `_xsrf=other; _xsrf=${XSRF}`
    };
    if (cookie[xsrf] !== undefined) {
      headers['cookie'] = cookie[xsrf];
    }
    if (['right', 'header-only', 'mismatch', 'malformed-cookie', 'two-cookies'].includes(xsrf)) {
      headers['x-xsrftoken'] = XSRF;
    }
    if (xsrf === 'empty') {
      headers['x-xsrftoken'] = '';
    }
    if (contentType !== null) {
      headers['content-type'] = contentType;
    }
    if (contentEncoding !== null) {
      headers['content-encoding'] = contentEncoding;
    }
    if (accept !== null) {
      headers['accept'] = accept;
    }
    if (origin !== null) {
      // Read when the request is made: the port is known only once the companion runs.
      headers['origin'] = origin === 'own' ? `http://127.0.0.1:${port}` : origin;
    }
    if (host !== null) {
      headers['host'] = host;
    }
    return headers;
  });

/** The instance part of a path, as it goes on the wire. */
const instanceOnTheWire = instanceName.chain(name =>
  onTheWire(name).map(wire => ({ name, wire: wire === '' ? '%20' : wire }))
);

/** A GET route of one instance with a query string. */
function getRoute(
  route: string,
  did: fc.Arbitrary<string>,
  extraHeaders: fc.Arbitrary<Record<string, string>> = fc.constant({})
): fc.Arbitrary<FuzzRequest> {
  return fc
    .record({
      instance: instanceOnTheWire,
      query: queryOf(did),
      headers: headersArb,
      extra: extraHeaders,
      method: fc.oneof(
        { weight: 15, arbitrary: fc.constant('GET') },
        { weight: 1, arbitrary: fc.constantFrom('HEAD', 'OPTIONS', 'PUT', 'DELETE', 'PATCH') }
      )
    })
    .map(({ instance, query, headers, extra, method }) => ({
      method,
      path: `/api/instances/${instance.wire}/${route}${query}`,
      headers: { ...headers, ...extra },
      instance: instance.name
    }));
}

const metadataKey = fc.oneof(
  fc.constantFrom(
    'run_number',
    'datatype',
    'telescope',
    'observation_id',
    'name',
    'type',
    'long',
    'filters',
    'scope',
    'did_type',
    'created_at',
    'updated_at',
    'length',
    'bytes',
    'account',
    'is_open',
    'guid',
    'events',
    'recursive',
    'limit'
  ),
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/)
);

const metadataValue = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constantFrom(
    "'",
    '"',
    '\\',
    "x'); import os; ('",
    '%',
    '*',
    '2020-01-01',
    '2020-01-01T00:00:00',
    '2020-01-01 00:00:00.000000Z',
    'Wed, 01 Jan 2020 00:00:00 UTC',
    '2020-02-30T00:00:00',
    '123e4567-e89b-12d3-a456-426614174000',
    'True',
    'false',
    'None',
    '[1]',
    '0x10',
    1e308,
    -0,
    Number.MAX_SAFE_INTEGER + 2
  )
);

const operator = fc.constantFrom('=', '!=', '>', '>=', '<', '<=');

/** A condition on devlake's metadata as a user would write it, or now and then anything. */
const condition = mostly(
  fc.oneof(
    fc.record({
      key: fc.constantFrom('run_number', 'events', 'bytes', 'length'),
      operator,
      value: fc.nat({ max: 2_000_000 })
    }),
    fc.record({
      key: fc.constantFrom('telescope', 'datatype', 'observation_id', 'project', 'campaign'),
      operator: fc.constantFrom('=', '!='),
      value: fc.constantFrom('LOFAR', 'MC', 'uv', 'L600000', 'LOFAR-LTA', 'cycle16', 'L6*', 'x')
    }),
    fc.record({
      key: fc.constantFrom('created_at', 'updated_at', 'created_after'),
      operator,
      value: fc.constantFrom('2020-01-01T00:00:00', '2026-01-01 00:00:00')
    })
  ),
  fc.record({ key: metadataKey, operator, value: metadataValue }),
  5
);

/** A search body: mostly of the right shape, with odd values here and there, sometimes anything. */
const searchBody = mostly(
  fc.record(
    {
      did: mostly(
        fc.constantFrom(
          'lofar:L6*',
          'cta:prod5*',
          'user.alice:analysis*',
          'atlas_opendata:2020*',
          'lofar:L6%',
          ...KNOWN_DIDS
        ),
        // Rarely the whole of a scope: its 10,000 files are read on in the background.
        fc.oneof(anyDid, fc.constantFrom('lofar:*', '*:*', 'lofar:**', 'lofar:%%', 'lofar:/*')),
        10
      ),
      type: mostly(
        fc.constantFrom('all', 'collection', 'container', 'dataset', 'file'),
        fc.constantFrom('FILE', 'derived', '', 'all '),
        10
      ),
      filters: mostly(
        fc.array(fc.array(condition, { minLength: 1, maxLength: 3 }), { maxLength: 3 }),
        fc.jsonValue({ maxDepth: 3 }),
        10
      ),
      offset: mostly(fc.integer({ min: 0, max: 300 }), fc.jsonValue({ maxDepth: 1 }), 10),
      limit: mostly(fc.integer({ min: 1, max: 300 }), fc.jsonValue({ maxDepth: 1 }), 10),
      sort: mostly(fc.constantFrom('name', 'size'), oddSortText, 10)
    },
    { requiredKeys: ['did'] }
  ),
  fc.jsonValue({ maxDepth: 4 }),
  8
);

/** A make-available or retry body: never a DID that exists and could get a rule. */
const ruleBody = fc.oneof(
  { weight: 6, arbitrary: fc.record({ did: harmlessDid }) },
  {
    weight: 1,
    arbitrary: fc.record(
      { did: fc.jsonValue({ maxDepth: 2 }), extra: fc.jsonValue({ maxDepth: 2 }) },
      { requiredKeys: [] }
    )
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) }
);

/** A JSON body, or text that is not quite JSON, or too much of it. */
function bodyText(body: fc.Arbitrary<unknown>): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { weight: 12, arbitrary: body.map(value => JSON.stringify(value) ?? 'null') },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        undefined,
        '',
        '{did: oops',
        '{"did": "lofar:L600000",}',
        'null',
        '"lofar:L600000"',
        '[]',
        '{"did": "lofar:L600000", "did": 1}',
        '\u0000',
        '\ufeff{"did": "x:y"}',
        `{"did": "${'x'.repeat(70_000)}"}`,
        '['.repeat(20_000) + ']'.repeat(20_000),
        `{"did": ${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`,
        '{"__proto__": {"did": "lofar:L600000"}}',
        '{"did": "lofar:L600000", "constructor": {"prototype": {"x": 1}}}'
      )
    }
  );
}

/** A POST route of one instance with a body. */
function postRoute(
  route: string,
  body: fc.Arbitrary<unknown>,
  instances: fc.Arbitrary<{ name: string; wire: string }> = instanceOnTheWire
): fc.Arbitrary<FuzzRequest> {
  return fc
    .record({
      instance: instances,
      body: bodyText(body),
      headers: headersArb,
      method: fc.oneof(
        { weight: 15, arbitrary: fc.constant('POST') },
        { weight: 1, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH') }
      ),
      query: rarely(queryOf(anyDid), 8)
    })
    .map(({ instance, body: text, headers, method, query }) => ({
      method,
      path: `/api/instances/${instance.wire}/${route}${query ?? ''}`,
      headers,
      body: method === 'GET' ? undefined : text,
      instance: instance.name
    }));
}

/** Instances where a sign-in may be started or forgotten without touching another test's sign-in. */
const signInSafeInstance = instanceOnTheWire.filter(({ name }) => name !== 'devlake-oidc');

const rangeHeader = fc
  .oneof(
    fc.constantFrom(
      'bytes=0-9',
      'bytes=-5',
      'bytes=5-',
      'bytes=9-0',
      'bytes=0-0',
      'bytes=-0',
      'bytes=0-0,5-9',
      'bytes=--',
      'bytes=-',
      'bytes= 0-1',
      'bytes=0-1 ',
      'items=0-1',
      'bytes=99999999999999999999999-',
      'bytes=0-99999999999999999999999',
      'bytes=-99999999999999999999999',
      'bytes=1e3-2e3',
      'bytes=0x10-0x20',
      ''
    ),
    fc.tuple(fc.nat({ max: 400_000 }), fc.nat({ max: 400_000 })).map(([a, b]) => `bytes=${a}-${b}`),
    fc.string({ unit: 'grapheme-ascii', maxLength: 20 })
  )
  .map(range => ({ range }));

// ---------------------------------------------------------------------------------------------
// The runs: each batch sends at most numRuns requests within its time limit, 66 s in all.

/** A GET of the browser, with its XSRF cookie and header. */
function get(path: string, instance = 'devlake'): FuzzRequest {
  return {
    method: 'GET',
    path,
    headers: { cookie: `_xsrf=${XSRF}`, 'x-xsrftoken': XSRF },
    instance
  };
}

/** A POST of the browser, with its XSRF cookie and header. */
function post(path: string, body: unknown): FuzzRequest {
  return {
    method: 'POST',
    path,
    headers: {
      cookie: `_xsrf=${XSRF}`,
      'x-xsrftoken': XSRF,
      'content-type': 'application/json'
    },
    body: JSON.stringify(body),
    instance: 'devlake'
  };
}

describe('fuzzing the companion’s HTTP API against devlake', () => {
  it('when browsing routes get generated instances, DIDs and query strings, then no answer is a 5xx, errors are sentences and the companion keeps serving', async () => {
    await fuzz(
      fc.oneof(
        fc.constant<FuzzRequest>({ method: 'GET', path: '/api/instances', headers: {} }),
        getRoute('auth', fc.constant('')),
        getRoute('scopes', fc.constant('')),
        getRoute('transfers', fc.constant('')),
        getRoute('did', anyDid),
        getRoute('children', anyDid),
        getRoute('files', anyDid),
        getRoute('availability', anyDid),
        getRoute('paths', anyDid)
      ),
      {
        numRuns: 500,
        seconds: 22,
        examples: [
          get('/api/instances/%zz/scopes', '%zz'),
          get('/api/instances/%E0%A4%A/auth', '\u0900'),
          get('/api/instances/devlake/did?did=..%3Aaccounts'),
          get('/api/instances/devlake/availability?did=..%3Aaccounts'),
          get('/api/instances/devlake/files?did=..%3Arses'),
          get('/api/instances/devlake/did?did=.%3Alofar')
        ]
      }
    );
  });

  it('when file content is asked for with generated DIDs and Range headers, then no answer is a 5xx', async () => {
    const file = `/api/instances/devlake/content?did=${escape('user.alice:analysis.v1/selection.json')}`;
    await fuzz(getRoute('content', anyDid, fc.option(rangeHeader, { freq: 3, nil: {} })), {
      numRuns: 200,
      seconds: 12,
      examples: [
        { ...get(file), headers: { ...get(file).headers, range: 'bytes=1-0' } },
        { ...get(file), headers: { ...get(file).headers, range: 'bytes=999999-' } }
      ]
    });
  });

  it('when event streams are asked for generated DIDs, then each opens or is refused with a sentence', async () => {
    const dids = fc.oneof(
      { weight: 8, arbitrary: fc.array(anyDid, { minLength: 0, maxLength: 3 }) },
      {
        // Short ones: 201 long DIDs make a request line longer than Node's HTTP parser takes (431).
        weight: 1,
        arbitrary: hostileDid
          .filter(did => escape(did).length <= 40)
          .map(did => Array.from({ length: 201 }, () => did))
      }
    );
    const events = fc
      .record({ instance: instanceOnTheWire, dids, headers: headersArb, junk: queryOf(anyDid) })
      .chain(({ instance, dids: list, headers, junk }) =>
        fc.tuple(...list.map(did => onTheWire(did))).map(encoded => ({
          method: 'GET',
          path: `/api/instances/${instance.wire}/events?${encoded.map(d => `did=${d}`).join('&')}${junk.replace('?', '&')}`,
          headers,
          instance: instance.name
        }))
      );
    await fuzz(events, { numRuns: 120, seconds: 10 });
  });

  it('when POST routes get generated JSON bodies, odd Content-Types and XSRF combinations, then no answer is a 5xx', async () => {
    await fuzz(
      fc.oneof(
        postRoute('search', searchBody),
        postRoute('search', searchBody),
        postRoute('make-available', ruleBody),
        postRoute('retry', ruleBody),
        postRoute('auth/device', fc.jsonValue({ maxDepth: 2 }), signInSafeInstance),
        postRoute('auth/sign-out', fc.jsonValue({ maxDepth: 2 }), signInSafeInstance)
      ),
      {
        numRuns: 600,
        seconds: 18,
        examples: [
          post('/api/instances/devlake/retry', { did: '.:L600000' }),
          ...[
            { key: 'did_type', operator: '=', value: '\u0100' },
            { key: 'run_number', operator: '=', value: 'x' },
            { key: 'run_number', operator: '>', value: -5 },
            { key: 'datatype', operator: '=', value: '5' },
            { key: 'account', operator: '=', value: 'alice' },
            { key: 'created_at', operator: '=', value: '2020-01-01' },
            { key: 'telescope', operator: '>', value: true },
            { key: 'run_number', operator: '>', value: 'x*' },
            { key: 'name', operator: '=', value: 5 },
            { key: 'long', operator: '=', value: 'x' }
          ].map(condition =>
            post('/api/instances/devlake/search', { did: 'lofar:*', filters: [[condition]] })
          ),
          post('/api/instances/devlake/search', {
            did: 'lofar:*',
            filters: [
              [
                { key: 'run_number', operator: '>', value: 1 },
                { key: 'run_number', operator: '>', value: 2 }
              ]
            ]
          })
        ]
      }
    );
  });

  it('when paths and methods outside the API are sent, then each is a 4xx with a sentence', async () => {
    const segment = fc.oneof(
      fc.constantFrom(
        'api',
        'instances',
        'devlake',
        'did',
        'scopes',
        '..',
        '.',
        '',
        '%2e%2e',
        '%2F'
      ),
      hostileText.chain(onTheWire)
    );
    const stray = fc
      .record({
        segments: fc.array(segment, { maxLength: 6 }),
        method: fc.constantFrom(
          'GET',
          'POST',
          'PUT',
          'DELETE',
          'PATCH',
          'HEAD',
          'OPTIONS',
          'TRACE'
        ),
        headers: headersArb,
        body: fc.option(bodyText(fc.jsonValue({ maxDepth: 2 })), { nil: undefined })
      })
      .map(({ segments, method, headers, body }) => ({
        method,
        path: `/${segments.join('/')}`,
        headers,
        body: method === 'GET' || method === 'HEAD' || method === 'TRACE' ? undefined : body,
        instance: segments[2]
      }));
    await fuzz(stray, { numRuns: 300, seconds: 4 });
  });

  it('when every answer and log line of the run is scanned, then none holds a password, key or token', async () => {
    const secrets = [...new Set([...secretsAtStart, ...configuredSecrets(), ...heldTokens])];
    // alice's, bob's and the certificate's Rucio tokens, got when the companion started, at least.
    expect(heldTokens.size).toBeGreaterThanOrEqual(3);
    expect(answers.length).toBeGreaterThan(200);
    expect(logLines.length).toBeGreaterThan(100);
    for (const [source, lines] of [
      ['answer', answers],
      ['log line', logLines]
    ] as const) {
      for (const line of lines) {
        for (const secret of secrets) {
          expect(line.includes(secret), `a ${source} holds a secret: ${line.slice(0, 300)}`).toBe(
            false
          );
        }
      }
    }
  });
});
