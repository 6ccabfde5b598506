// The probe against small HTTP servers that play registry behaviours the real one can't be
// made to show on demand (HEAD refused, garbage challenges, hangs, 500s).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/load.js';
import { setLogSink } from '../../src/log.js';
import { MANIFEST_ACCEPT, RegistryClient } from '../../src/registry/client.js';
import type { Registry } from '../../src/registry/registry.js';
import { tempDir } from '../support/procs.js';
import { selfSignedCert } from '../support/tls.js';

/** How a registry serves a manifest it has. */
const MANIFEST = { 'content-type': 'application/vnd.oci.image.manifest.v1+json' };

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, origin: string) => void;
const servers: http.Server[] = [];

async function serve(handler: Handler): Promise<{ origin: string; host: string; requests: http.IncomingMessage[] }> {
  const requests: http.IncomingMessage[] = [];
  let origin = '';
  const server = http.createServer((req, res) => {
    requests.push(req);
    handler(req, res, origin);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  origin = `http://${host}`;
  return { origin, host, requests };
}

function registry(host: string, auth = ''): Registry {
  return parseConfigText(`address: http://${host}\n${auth ? `auth: ${auth}\n` : ''}`, 'test', {}).config.registries[0]!;
}

after(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

/** The pull scope of a manifest URL (/v2/<repository>/manifests/<reference>), quoted. */
const scopeOf = (url: URL) => `"repository:${url.pathname.split('/manifests/')[0]!.slice(4)}:pull"`;

describe('RegistryClient.probe', () => {
  it('sends HEAD with the manifest media types and reads 200 / 404', async () => {
    const srv = await serve((req, res) =>
      res.writeHead(req.url === '/v2/library/nginx/manifests/1.25' ? 200 : 404, MANIFEST).end(),
    );
    const client = new RegistryClient();
    assert.equal((await client.probe(registry(srv.host), 'library/nginx', '1.25', 1000)).status, 'found');
    assert.equal((await client.probe(registry(srv.host), 'library/nginx', 'nope', 1000)).status, 'not_found');
    assert.equal(srv.requests[0]!.method, 'HEAD');
    assert.equal(srv.requests[0]!.headers.accept, MANIFEST_ACCEPT);
    await client.close();
  });

  it('falls back to GET when HEAD is refused, and remembers it', async () => {
    const srv = await serve((req, res) => res.writeHead(req.method === 'HEAD' ? 405 : 200, MANIFEST).end('{}'));
    const client = new RegistryClient();
    assert.equal((await client.probe(registry(srv.host), 'a/b', 'v1', 1000)).status, 'found');
    assert.equal((await client.probe(registry(srv.host), 'a/b', 'v2', 1000)).status, 'found');
    assert.deepEqual(
      srv.requests.map((r) => r.method),
      ['HEAD', 'GET', 'GET'],
    );
    await client.close();
  });

  it('sends configured credentials as Basic up front, and reports rejected ones as unauthorized', async () => {
    const expected = `Basic ${Buffer.from('u:p').toString('base64')}`;
    const srv = await serve((req, res) => {
      if (req.headers.authorization === expected) res.writeHead(200, MANIFEST).end();
      else res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
    });
    const client = new RegistryClient();
    assert.equal((await client.probe(registry(srv.host, 'u:p'), 'a', 'v', 1000)).status, 'found');
    assert.equal((await client.probe(registry(srv.host, 'u:p'), 'a', 'w', 1000)).status, 'found');
    assert.equal(srv.requests.length, 2, 'no 401 round trip');
    assert.equal((await client.probe(registry(srv.host, 'u:wrong'), 'a', 'v', 1000)).status, 'unauthorized');
    assert.equal(
      (await new RegistryClient().probe(registry(srv.host), 'a', 'v', 1000)).status,
      'unauthorized',
      'no credentials',
    );
    await client.close();
  });

  it('follows the Bearer token flow and caches the token per scope', async () => {
    let tokens = 0;
    const srv = await serve((req, res, origin) => {
      const url = new URL(req.url!, origin);
      if (url.pathname === '/token') {
        tokens++;
        assert.equal(url.searchParams.get('service'), 'svc');
        assert.equal(req.headers.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
        res.writeHead(200).end(JSON.stringify({ token: `tok-${url.searchParams.get('scope')}`, expires_in: 300 }));
      } else if (
        req.headers.authorization === `Bearer tok-repository:${url.pathname.split('/manifests/')[0]!.slice(4)}:pull`
      ) {
        res.writeHead(200, MANIFEST).end();
      } else {
        res
          .writeHead(401, {
            'www-authenticate': `Bearer realm="${origin}/token",service="svc",scope=${scopeOf(url)}`,
          })
          .end();
      }
    });
    const client = new RegistryClient();
    const reg = registry(srv.host, 'u:p');
    assert.equal((await client.probe(reg, 'lib/a', 'v1', 1000)).status, 'found');
    assert.equal((await client.probe(reg, 'lib/a', 'v2', 1000)).status, 'found');
    assert.equal(tokens, 1, 'token reused for the same scope');
    assert.equal((await client.probe(reg, 'lib/b', 'v1', 1000)).status, 'found');
    assert.equal(tokens, 2, 'new scope, new token');
    client.forgetCredentials();
    assert.equal((await client.probe(reg, 'lib/a', 'v1', 1000)).status, 'found');
    assert.equal(tokens, 3);
    await client.close();
  });

  // Before: bounded by count (4096) only; 4 MB tokens × 22 filled the heap.
  it('bounds the token cache by bytes: old tokens are dropped once 4 MiB is held', async () => {
    let issued = 0;
    const srv = await serve((req, res, origin) => {
      const url = new URL(req.url!, origin);
      if (url.pathname === '/token') {
        issued++;
        res
          .writeHead(200)
          .end(JSON.stringify({ token: `${url.searchParams.get('scope')}-${'t'.repeat(12 * 1024)}`, expires_in: 300 }));
      } else if (req.headers.authorization?.startsWith('Bearer ')) {
        res.writeHead(200, MANIFEST).end();
      } else {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${origin}/token",service="s"` }).end();
      }
    });
    const client = new RegistryClient();
    const reg = registry(srv.host, 'u:p');
    // 400 tokens of 12 KiB (a Bearer header must stay under the registry's 16 KiB header limit).
    for (let i = 0; i < 400; i++) assert.equal((await client.probe(reg, `repo${i}`, 'v1', 2000)).status, 'found');
    assert.equal(issued, 400);
    await client.probe(reg, 'repo399', 'v1', 2000);
    assert.equal(issued, 400, 'a recent token is still cached');
    await client.probe(reg, 'repo0', 'v1', 2000);
    assert.equal(issued, 401, 'the oldest token was dropped (400 x 12 KiB is over 4 MiB)');
    await client.close();
  });

  const faults: [string, Handler, string, RegExp?][] = [
    ['a 500', (_q, s) => s.writeHead(500).end(), 'bad_response'],
    ['a malformed challenge', (_q, s) => s.writeHead(401, { 'www-authenticate': '"""' }).end(), 'bad_response'],
    [
      'a token realm that is not a URL',
      (_q, s) => s.writeHead(401, { 'www-authenticate': 'Bearer realm="::nope"' }).end(),
      'bad_response',
    ],
    [
      'a token endpoint answering garbage',
      (q, s, o) =>
        q.url!.startsWith('/token')
          ? s.writeHead(200).end('not json')
          : s.writeHead(401, { 'www-authenticate': `Bearer realm="${o}/token"` }).end(),
      'bad_response',
    ],
    ['a connection closed mid-answer', (q) => q.socket.destroy(), 'unreachable'],
    ['a registry that never answers', () => {}, 'timeout'],
    // Before: "found", and a pull sent to a web page.
    [
      '200 text/html to everything',
      (_q, s) => s.writeHead(200, { 'content-type': 'text/html' }).end('<html>hi</html>'),
      'bad_response',
    ],
    ['200 with no media type', (_q, s) => s.writeHead(200).end(), 'bad_response'],
    // Before: "found" as soon as the headers came, though the manifest never did.
    [
      'HEAD refused, then a GET whose answer never ends',
      (q, s) =>
        q.method === 'HEAD'
          ? s.writeHead(405).end()
          : s.writeHead(200, { ...MANIFEST, 'content-length': '100' }).write('{'),
      'timeout',
    ],
    [
      'a manifest larger than a registry serves',
      (q, s) =>
        q.method === 'HEAD'
          ? s.writeHead(405).end()
          : s.writeHead(200, MANIFEST).end(Buffer.alloc(5 * 1024 * 1024, 32)),
      'bad_response',
    ],
    // Before: the whole answer parsed as JSON, the 50 MB token cached.
    [
      'a token answer of 50 MB',
      (q, s, o) =>
        q.url!.startsWith('/token')
          ? s.writeHead(200).end(`{"token":"${'t'.repeat(50 * 1024 * 1024)}"}`)
          : s.writeHead(401, { 'www-authenticate': `Bearer realm="${o}/token"` }).end(),
      'bad_response',
      /token answer larger than 64 KiB/,
    ],
  ];
  for (const [name, handler, status, detail] of faults) {
    it(`reports ${name} as ${status}, within the timeout`, async () => {
      const srv = await serve(handler);
      const client = new RegistryClient();
      const started = performance.now();
      const outcome = await client.probe(registry(srv.host, 'u:p'), 'a', 'v', 500);
      assert.equal(outcome.status, status, outcome.detail);
      if (detail) assert.match(outcome.detail, detail);
      assert.ok(performance.now() - started < 1500);
      assert.ok(!outcome.detail.includes('u:p'));
      await client.close();
    });
  }

  it('reports a closed port as unreachable', async () => {
    const srv = await serve((_q, s) => s.end());
    const host = srv.host;
    await new Promise<void>((r) => servers.pop()!.close(() => r()));
    const outcome = await new RegistryClient().probe(registry(host), 'a', 'v', 1000);
    assert.equal(outcome.status, 'unreachable');
  });

  it('keeps at most connectionsPerOrigin sockets open under a burst', async () => {
    const srv = await serve((_q, s) => setTimeout(() => s.writeHead(200, MANIFEST).end(), 10));
    const client = new RegistryClient({ connectionsPerOrigin: 4 });
    const outcomes = await Promise.all(
      Array.from({ length: 100 }, (_, i) => client.probe(registry(srv.host), 'a', `v${i}`, 5000)),
    );
    assert.ok(outcomes.every((o) => o.status === 'found'));
    const ports = new Set(srv.requests.map((r) => r.socket.remotePort));
    assert.ok(ports.size <= 4, `${ports.size} connections used`);
    assert.ok(client.openConnections() <= 4);
    await client.close();
  });

  it('starts the probe timeout when a connection is free: a busy registry is waited for, not timed out', async () => {
    // 10 probes over 2 connections, 150 ms each: the last ones take 750 ms in all, past the
    // 600 ms timeout, having waited 600 ms (well inside the 1200 ms bound on waiting).
    const srv = await serve((_q, s) => setTimeout(() => s.writeHead(200, MANIFEST).end(), 150));
    const client = new RegistryClient({ connectionsPerOrigin: 2 });
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) => client.probe(registry(srv.host), 'a', `v${i}`, 600)),
    );
    assert.deepEqual(
      outcomes.map((o) => o.status),
      Array(10).fill('found'),
    );
    assert.ok(Math.max(...outcomes.map((o) => o.ms)) > 600, 'some took longer than the timeout in all');
    await client.close();
  });

  it(
    'after a probe times out, refuses the waiting and new probes at once, and asks again one timeout ' + 'later',
    async () => {
      let answering = false;
      const srv = await serve((_q, s) => {
        if (answering) s.writeHead(200, MANIFEST).end();
      });
      const client = new RegistryClient({ connectionsPerOrigin: 2 });
      const started = performance.now();
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, (_, i) => client.probe(registry(srv.host), 'a', `v${i}`, 300)),
      );
      const took = performance.now() - started;
      assert.deepEqual(
        outcomes.map((o) => o.status),
        Array(10).fill('timeout'),
      );
      assert.ok(took < 600, `a burst cost one timeout, not one per batch of connections (${Math.round(took)} ms)`);
      assert.equal(srv.requests.length, 2, 'only the admitted probes reached the registry');
      const t = performance.now();
      const refused = await client.probe(registry(srv.host), 'a', 'again', 300);
      assert.equal(refused.status, 'timeout');
      assert.match(refused.detail, /not answering/);
      assert.ok(performance.now() - t < 100, 'refused without waiting');
      answering = true;
      await new Promise((r) => setTimeout(r, 350));
      assert.equal((await client.probe(registry(srv.host), 'a', 'later', 300)).status, 'found');
      await client.close();
    },
  );
});

describe('RegistryClient over HTTPS', () => {
  const tmp = tempDir('registry-tls');
  const { keyFile: key, certFile: cert } = selfSignedCert(tmp.path, 'tls', '127.0.0.1', true);
  after(() => tmp.remove());

  it('refuses a token realm on plain HTTP for an HTTPS registry: no credentials sent, one warning', async () => {
    const tokenServer = await serve((_q, s) => s.writeHead(200).end('{"token":"t"}'));
    const secure = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_q, s) =>
      s.writeHead(401, { 'www-authenticate': `Bearer realm="${tokenServer.origin}/token",service="x"` }).end(),
    );
    servers.push(secure as unknown as http.Server);
    await new Promise<void>((r) => secure.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(secure.address() as AddressInfo).port}`;
    const reg = parseConfigText(`address: https://${host}\nauth: carol:CAROL-SECRET\ncaFile: ${cert}\n`, 'test', {})
      .config.registries[0]!;
    const lines: string[] = [];
    setLogSink((l) => lines.push(l));
    try {
      const client = new RegistryClient();
      for (const tag of ['v1', 'v2']) {
        const outcome = await client.probe(reg, 'a', tag, 1000);
        assert.equal(outcome.status, 'unauthorized', outcome.detail);
      }
      await client.close();
    } finally {
      setLogSink((l) => process.stderr.write(`${l}\n`));
    }
    assert.equal(tokenServer.requests.length, 0, 'the plain-HTTP realm was never asked');
    assert.equal(
      lines.filter((l) => l.includes('token realm') && l.includes('plain HTTP')).length,
      1,
      lines.join('\n'),
    );
    assert.ok(!lines.join('\n').includes('CAROL-SECRET'));
  });
});
