import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './processes.js';
import type { Layout } from './settings.js';

/** The X.509 files devlake makes: its own CA, the auth server's certificate, and alice's. */
export interface X509Files {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly users: Readonly<
    Record<string, { cert: string; key: string; proxy: string; dn: string }>
  >;
}

/** Users who get a certificate, and their DNs as Rucio stores X509 identities. */
const X509_USERS = ['alice', 'bob'] as const;

/** The DN (OpenSSL's slash form) of a devlake user's certificate. */
export function userDn(user: string): string {
  return `/O=devlake/OU=users/CN=${user}`;
}

/** Paths of devlake's X.509 files. */
export function x509Files(layout: Layout): X509Files {
  const dir = join(layout.stateDir, 'x509');
  return {
    dir,
    caCert: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    users: Object.fromEntries(
      X509_USERS.map(u => [
        u,
        {
          cert: join(dir, `${u}.pem`),
          key: join(dir, `${u}.key`),
          proxy: join(dir, `${u}-proxy.pem`),
          dn: userDn(u)
        }
      ])
    )
  };
}

function openssl(args: string[], what: string): void {
  run('openssl', args, { what });
}

/**
 * Makes, once, a CA, a server certificate for 127.0.0.1 (Rucio's X.509 auth endpoint) and a user
 * certificate plus an RFC 3820 proxy certificate for each demo user, with openssl.
 */
export function ensureX509(layout: Layout): X509Files {
  const files = x509Files(layout);
  if (existsSync(files.users['bob']?.proxy ?? '')) {
    return files;
  }
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  const path = (name: string): string => join(files.dir, name);
  const caKey = path('ca.key');
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '3650',
      '-subj',
      '/O=devlake/CN=devlake CA',
      '-keyout',
      caKey,
      '-out',
      files.caCert
    ],
    "making devlake's certificate authority"
  );
  writeFileSync(
    path('server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
  );
  writeFileSync(
    path('user.ext'),
    'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n'
  );
  writeFileSync(
    path('proxy.ext'),
    'proxyCertInfo=critical,language:id-ppl-inheritAll\nkeyUsage=critical,digitalSignature,keyEncipherment\n'
  );
  /** Makes a key and a certificate for `subject`, signed by `issuer`. */
  const issue = (
    what: string,
    subject: string,
    key: string,
    cert: string,
    issuer: { cert: string; key: string },
    ext: string,
    serial: string[]
  ): void => {
    const csr = `${cert}.csr`;
    openssl(
      ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-keyout', key, '-out', csr],
      `making ${what}'s key`
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        issuer.cert,
        '-CAkey',
        issuer.key,
        ...serial,
        '-days',
        '3650',
        '-extfile',
        path(ext),
        '-out',
        cert
      ],
      `signing ${what}'s certificate`
    );
  };
  const ca = { cert: files.caCert, key: caKey };
  issue(
    'the auth server',
    '/O=devlake/CN=127.0.0.1',
    files.serverKey,
    files.serverCert,
    ca,
    'server.ext',
    ['-CAcreateserial']
  );
  for (const [user, f] of Object.entries(files.users)) {
    issue(user, f.dn, f.key, f.cert, ca, 'user.ext', ['-CAcreateserial']);
    // An RFC 3820 proxy: the user's DN plus a numeric CN, signed by the user's own key.
    const serial = String(100000 + Math.floor(Math.random() * 800000));
    const proxyCert = path(`${user}-proxy.crt`);
    const proxyKey = path(`${user}-proxy.key`);
    issue(`${user}'s proxy`, `${f.dn}/CN=${serial}`, proxyKey, proxyCert, f, 'proxy.ext', [
      '-set_serial',
      serial
    ]);
    // The usual proxy file: proxy certificate, its key, then the user's certificate.
    writeFileSync(
      f.proxy,
      [proxyCert, proxyKey, f.cert].map(file => readFileSync(file, 'utf8')).join('')
    );
  }
  for (const file of [
    caKey,
    files.serverKey,
    ...Object.values(files.users).flatMap(f => [f.key, f.proxy])
  ]) {
    chmodSync(file, 0o600);
  }
  return files;
}

/**
 * The WSGI module that puts Rucio behind gunicorn's TLS: it passes the client certificate's DN to
 * Rucio as `SSL_CLIENT_S_DN` (in OpenSSL's slash form, as Apache's mod_ssl does with
 * LegacyDNStringFormat), which is where Rucio's `/auth/x509` reads it.
 */
export const X509_WSGI = `"""devlake: Rucio behind gunicorn's TLS, with the client's DN where Rucio looks for it."""
from rucio.web.rest.flaskapi.v1.main import application as rucio_application


def _dn(certificate):
    parts = []
    for rdn in certificate.get('subject', ()):
        for key, value in rdn:
            short = {'organizationName': 'O', 'organizationalUnitName': 'OU', 'commonName': 'CN',
                     'countryName': 'C', 'domainComponent': 'DC', 'localityName': 'L'}.get(key, key)
            parts.append('%s=%s' % (short, value))
    return '/' + '/'.join(parts)


def application(environ, start_response):
    sock = environ.get('gunicorn.socket')
    certificate = sock.getpeercert() if hasattr(sock, 'getpeercert') else None
    environ.pop('SSL_CLIENT_S_DN', None)
    if certificate:
        environ['SSL_CLIENT_S_DN'] = _dn(certificate)
        environ['SSL_CLIENT_VERIFY'] = 'SUCCESS'
    return rucio_application(environ, start_response)
`;

/** gunicorn's configuration hook: let OpenSSL accept RFC 3820 proxy certificates. */
export const X509_GUNICORN_CONFIG = `import ssl


def ssl_context(config, default_ssl_context_factory):
    context = default_ssl_context_factory()
    # X509_V_FLAG_ALLOW_PROXY_CERTS: grid proxy certificates are signed by the user's certificate.
    context.verify_flags = ssl.VerifyFlags(int(context.verify_flags) | 0x40)
    return context
`;
