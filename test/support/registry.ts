// Real CNCF distribution registries (Debian's docker-registry) on 127.0.0.1, with no auth,
// htpasswd auth, or Bearer token auth from a token issuer written here.

import { execFileSync } from 'node:child_process';
import { createHash, createSign, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { selfSignedCert } from './tls.js';
import { freePort, startProc, waitForPort, type Proc } from './procs.js';

export type RegistryAuth = 'none' | 'htpasswd' | 'token';

export interface TestRegistry {
  readonly host: string; // 127.0.0.1:PORT
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly creds: string | undefined; // "user:password" for pushes
  readonly proc: Proc;
  /** Manifest requests (HEAD or GET) in the access log so far; only those from `userAgent` when given. */
  manifestRequests(userAgent?: string): number;
  stop(): Promise<void>;
  /** Deletes a blob from storage, so manifests still answer but pulls fail. */
  deleteBlob(digest: string): void;
  /** Starts it again on the same port and storage. */
  restart(): Promise<void>;
  /** An htpasswd registry's password changed (its file rewritten, the registry restarted to read it). */
  setPassword(password: string): Promise<void>;
}

export interface TokenIssuer {
  readonly realm: string;
  readonly certFile: string;
  readonly issued: () => number;
  stop(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
}

/** base32 of the first 240 bits of SHA-256(DER public key), in groups of 4: libtrust's key ID. */
function libtrustKeyId(publicKeyDer: Buffer): string {
  const hash = createHash('sha256').update(publicKeyDer).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const byte of hash) bits += byte.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bits.length; i += 5) out += alphabet[parseInt(bits.slice(i, i + 5), 2)];
  return out.match(/.{4}/g)!.join(':');
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/** A token server: grants pull and push to `user:password`, nothing to anyone else. */
export async function startTokenIssuer(
  dir: string,
  user: string,
  password: string,
  service: string,
): Promise<TokenIssuer> {
  mkdirSync(dir, { recursive: true });
  const { keyFile, certFile } = selfSignedCert(dir, 'token', 'test-token-issuer');
  const pubDer = execFileSync('openssl', ['x509', '-in', certFile, '-noout', '-pubkey']);
  const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'DER'], { input: pubDer });
  const kid = libtrustKeyId(der);
  const key = readFileSync(keyFile);
  let issued = 0;
  // Answers both flows a client may use: GET with Basic auth (Docker) and POST of an OAuth2
  // password grant (containerd, when it has a username and password).
  const server = http.createServer((req, res) => {
    let form = '';
    req.on('data', (chunk: Buffer) => (form += chunk.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const params = req.method === 'POST' ? new URLSearchParams(form) : url.searchParams;
      const auth = req.headers.authorization ?? '';
      let given = '';
      if (auth.startsWith('Basic ')) given = Buffer.from(auth.slice(6), 'base64').toString();
      else if (params.get('grant_type') === 'password') given = `${params.get('username')}:${params.get('password')}`;
      if ((auth || req.method === 'POST') && given !== `${user}:${password}`) {
        res.writeHead(401).end();
        return;
      }
      const access = (params.getAll('scope').join(' ') || '')
        .split(' ')
        .filter(Boolean)
        .flatMap((scope) => {
          const [type, name, actions] = scope.split(':');
          return given && type === 'repository' ? [{ type, name, actions: (actions ?? '').split(',') }] : [];
        });
      const now = Math.floor(Date.now() / 1000);
      const header = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }));
      const claims = b64url(
        JSON.stringify({
          iss: 'test-issuer',
          sub: given.split(':')[0] ?? '',
          aud: service,
          exp: now + 300,
          nbf: now - 10,
          iat: now,
          jti: randomUUID(),
          access,
        }),
      );
      const token = `${header}.${claims}.${b64url(createSign('RSA-SHA256').update(`${header}.${claims}`).sign(key))}`;
      issued++;
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    certFile,
    issued: () => issued,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    restart: () => new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve())),
  };
}

/**
 * `tls`: serve HTTPS with a self-signed certificate for 127.0.0.1, written to `tls.certFile`
 * (what a client must be told to trust).
 */
export async function startRegistry(
  dir: string,
  auth: RegistryAuth,
  opts: { user?: string; password?: string; issuer?: TokenIssuer; service?: string; tls?: boolean } = {},
): Promise<TestRegistry & { certFile?: string }> {
  mkdirSync(join(dir, 'data'), { recursive: true });
  const port = await freePort();
  const user = opts.user ?? 'user';
  let password = opts.password ?? 'secret-pass';
  const writeHtpasswd = () => writeFileSync(join(dir, 'htpasswd'), execFileSync('htpasswd', ['-Bbn', user, password]));
  let authBlock = '';
  if (auth === 'htpasswd') {
    writeHtpasswd();
    authBlock = `auth:\n  htpasswd:\n    realm: test\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (auth === 'token') {
    if (!opts.issuer) throw new Error('token auth needs an issuer');
    authBlock =
      `auth:\n  token:\n    realm: ${opts.issuer.realm}\n    service: ` +
      `${opts.service ?? 'test-registry'}\n    issuer: test-issuer\n    rootcertbundle: ${opts.issuer.certFile}\n`;
  }
  let tlsBlock = '';
  const certFile = join(dir, 'tls.crt');
  if (opts.tls) {
    const { keyFile } = selfSignedCert(dir, 'tls', '127.0.0.1', true);
    tlsBlock = `  tls:\n    certificate: ${certFile}\n    key: ${keyFile}\n`;
  }
  const configFile = join(dir, 'config.yml');
  writeFileSync(
    configFile,
    `version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    ` +
      `rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: ` +
      `127.0.0.1:${port}\n${tlsBlock}${authBlock}`,
  );
  const logFile = join(dir, 'registry.log');
  let proc = startProc('docker-registry', ['serve', configFile], { logFile });
  await waitForPort(port);
  const countManifests = (userAgent?: string) =>
    readFileSync(logFile, 'utf8')
      .split('\n')
      .filter(
        (line) => /"(?:HEAD|GET) \/v2\/[^"]*\/manifests\//.test(line) && (!userAgent || line.includes(`"${userAgent}`)),
      ).length;
  return {
    ...(opts.tls ? { certFile } : {}),
    host: `127.0.0.1:${port}`,
    port,
    user,
    get password() {
      return password;
    },
    get creds() {
      return auth === 'none' ? undefined : `${user}:${password}`;
    },
    get proc() {
      return proc;
    },
    manifestRequests: countManifests,
    stop: async () => {
      await proc.stop();
    },
    deleteBlob(digest) {
      const hex = digest.replace(/^sha256:/, '');
      rmSync(join(dir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex), {
        recursive: true,
        force: true,
      });
    },
    restart: async () => {
      proc = startProc('docker-registry', ['serve', configFile], { logFile });
      await waitForPort(port);
    },
    setPassword: async (next) => {
      if (auth !== 'htpasswd') throw new Error('only an htpasswd registry has a password to change');
      password = next;
      writeHtpasswd();
      await proc.stop();
      proc = startProc('docker-registry', ['serve', configFile], { logFile });
      await waitForPort(port);
    },
  };
}
