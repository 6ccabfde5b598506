import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfigText, readConfigText } from '../../src/config/load.js';
import { DEFAULTS } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';
import { parseRegistryAddress } from '../../src/registry/registry.js';
import { tempDir } from '../support/procs.js';

const FILE = '/etc/image-cri-shim.yaml';
const parse = (text: string, env: NodeJS.ProcessEnv = {}) => parseConfigText(text, FILE, env);

describe('config file', () => {
  it('applies every default to a minimal Go image-cri-shim file', () => {
    const { config, warnings } = parse('address: http://sealos.hub:5000\n');
    assert.deepEqual(warnings, []);
    assert.equal(config.shimSocket, '/var/run/image-cri-shim.sock');
    assert.equal(config.criSocket, undefined);
    assert.equal(config.timeoutMs, 15 * 60_000);
    assert.equal(config.reloadIntervalMs, 15_000);
    assert.equal(config.probeTimeoutMs, 5_000);
    assert.equal(config.fallback, true);
    assert.equal(config.force, false);
    assert.equal(config.debug, false);
    assert.deepEqual(config.cache, {
      imageCacheSize: 1024,
      imageCacheTtlMs: 30 * 60_000,
      domainCacheTtlMs: 10 * 60_000,
      statsLogIntervalMs: 60_000,
      disableStats: false,
    });
    const [offline] = config.registries;
    assert.equal(offline!.offline, true);
    assert.equal(offline!.priority, 1000);
    assert.equal(offline!.priorityDefaulted, true);
    assert.equal(offline!.domain, 'sealos.hub:5000');
    assert.equal(offline!.apiOrigin, 'http://sealos.hub:5000');
    assert.equal(offline!.credentials, undefined);
  });

  it('reads a full Go config file', () => {
    const { config, warnings } = parse(`
shim: /var/run/image-cri-shim.sock
cri: unix:///run/containerd/containerd.sock
address: http://sealos.hub:5000
auth: admin:pass:with:colons
offlinePriority: 900
force: true
debug: true
timeout: 1m30s
reloadInterval: 30s
version: v1
image: /var/lib/image-cri-shim
registries:
  - address: docker.io
    auth: u:p
    priority: 600
  - address: registry.example.com:5000
  - address: https://harbor.corp/dockerhub-proxy
    auth: { username: h, password: hp }
    priority: 20000
    insecureSkipVerify: true
cache:
  imageCacheSize: 0
  imageCacheTTL: 1h
  domainCacheTTL: 0
  statsLogInterval: 0
  disableStats: true
`);
    assert.equal(config.criSocket, '/run/containerd/containerd.sock');
    assert.equal(config.force, true);
    assert.equal(config.timeoutMs, 90_000);
    assert.equal(config.reloadIntervalMs, 30_000);
    assert.deepEqual(config.cache, {
      imageCacheSize: 1024,
      imageCacheTtlMs: 3_600_000,
      domainCacheTtlMs: 600_000,
      statsLogIntervalMs: 60_000,
      disableStats: true,
    });
    const [offline, hub, plain, harbor] = config.registries;
    assert.deepEqual(
      offline!.credentials,
      { username: 'admin', password: 'pass:with:colons' },
      'split at the first colon',
    );
    assert.equal(offline!.priority, 900);
    assert.equal(hub!.domain, 'docker.io');
    assert.equal(hub!.apiOrigin, 'https://registry-1.docker.io');
    assert.equal(hub!.priority, 600);
    assert.equal(plain!.priority, 500);
    assert.equal(plain!.priorityDefaulted, true);
    assert.equal(plain!.apiOrigin, 'https://registry.example.com:5000');
    assert.equal(harbor!.prefix, 'dockerhub-proxy');
    assert.equal(harbor!.priority, 10000);
    assert.equal(harbor!.tls.insecureSkipVerify, true);
    assert.deepEqual(harbor!.credentials, { username: 'h', password: 'hp' });
    assert.deepEqual(warnings, [`${FILE}: registries[2].priority: 20000 is above 10000; using 10000`]);
  });

  it('clamps negative priorities to 0 with a warning', () => {
    const { config, warnings } = parse('address: sealos.hub\nregistries:\n  - address: a.io\n    priority: -5\n');
    assert.equal(config.registries[1]!.priority, 0);
    assert.match(warnings[0]!, /registries\[0\]\.priority: -5 is below 0; using 0/);
  });

  it('warns about unknown keys without failing', () => {
    const { warnings } = parse(
      'address: sealos.hub\nfoo: 1\ncache:\n  bar: 2\nregistries:\n  - address: a.io\n    prio: 3\n',
    );
    assert.deepEqual(warnings, [
      `${FILE}: foo: unknown key (ignored)`,
      `${FILE}: registries[0].prio: unknown key (ignored)`,
      `${FILE}: cache.bar: unknown key (ignored)`,
    ]);
  });

  it('turns the decision cache off with a negative size', () => {
    assert.equal(parse('address: a.io\ncache:\n  imageCacheSize: -1\n').config.cache.imageCacheSize, 0);
  });

  it('expands ${VAR} in credentials from the environment', () => {
    const { config } = parse('address: a.io\nauth: ${U}:${P}\n', { U: 'admin', P: 's3cret' });
    assert.deepEqual(config.registries[0]!.credentials, { username: 'admin', password: 's3cret' });
  });

  const invalid: [string, string][] = [
    ['registries:\n  - address: a.io\n', 'address: is required'],
    ['address: ""\n', 'address: is required'],
    ['address: ftp://x\n', 'address: not a registry address: "ftp://x"'],
    [
      'address: a.io\nregistries:\n  - address: r1\n  - address: r2\n  - address: r3\n    priority: high\n',
      'registries[2].priority: expected a number, got "high"',
    ],
    ['address: a.io\ntimeout: 15 minutes\n', 'timeout: expected a duration such as "15s" or "1m30s", got "15 minutes"'],
    ['address: a.io\ndebug: "yes"\n', 'debug: expected true or false, got "yes"'],
    ['address: a.io\nregistries: docker.io\n', 'registries: expected a list, got "docker.io"'],
    ['address: a.io\nregistries:\n  - docker.io\n', 'registries[0]: expected a mapping, got "docker.io"'],
    ['address: a.io\nauth: [u, p]\n', 'auth: expected "user:password" or {username, password}, got a list'],
    ['address: a.io\ncache:\n  imageCacheTTL: 10\n', 'cache.imageCacheTTL: expected a duration'],
    ['- just\n- a list\n', 'expected a YAML mapping at the top level'],
    ['address: [unclosed\n', 'invalid YAML'],
    ['address: a.io\nforce: "yes"\n', 'force: expected true or false, got "yes"'],
  ];
  for (const [text, message] of invalid) {
    it(`rejects: ${message}`, () => {
      assert.throws(
        () => parse(text),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.code === 'ERR_CONFIG' &&
          e.message.startsWith(`${FILE}: `) &&
          e.message.includes(message),
      );
    });
  }

  it('never echoes a long value (which may be a secret) in an error', () => {
    const secret = 'x'.repeat(64);
    assert.throws(
      () => parse(`address: a.io\ndebug: ${secret}\n`),
      (e: Error) => !e.message.includes(secret),
    );
  });

  // Before: "not a registry address: "http://alice:S3CRET@host"" and "expected a string, got 7731990042".
  const secrets: [string, string, string, 'error' | 'warning'][] = [
    [
      'a password in the offline address (ignored, as Go does)',
      'address: http://alice:S3CRET@sealos.hub:5000\n',
      'S3CRET',
      'warning',
    ],
    [
      'a password in a registry address',
      'address: a.io\nregistries:\n  - address: https://bob:B0B-SECRET@r.io/proj\n',
      'B0B-SECRET',
      'warning',
    ],
    ['a password in a bare address', 'address: carol:C4ROL@r.io\n', 'C4ROL', 'warning'],
    ['a numeric password', 'address: a.io\nauth:\n  username: u\n  password: 7731990042\n', '7731990042', 'error'],
    ['a numeric user', 'address: a.io\nauth:\n  username: 445566778899\n  password: p\n', '445566778899', 'error'],
    [
      'a password that is a list',
      'address: a.io\nauth:\n  username: u\n  password: [L1STSECRET]\n',
      'L1STSECRET',
      'error',
    ],
  ];
  for (const [what, text, secret, outcome] of secrets) {
    it(`names the key but never the credential: ${what}`, () => {
      if (outcome === 'error') {
        assert.throws(
          () => parse(text),
          (e: unknown) =>
            e instanceof ConfigError &&
            e.key !== '' &&
            e.message.startsWith(`${FILE}: `) &&
            !e.message.includes(secret),
        );
        return;
      }
      const { config, warnings } = parse(text);
      assert.ok(
        warnings.some((w) => w.startsWith(`${FILE}: `) && w.includes('address')),
        warnings.join('\n'),
      );
      assert.ok(!warnings.join('\n').includes(secret));
      assert.ok(!JSON.stringify(config.registries).includes(secret), 'the address is used without its userinfo');
    });
  }

  it(`refuses more than ${DEFAULTS.maxRegistries} registries, naming the count and the limit`, () => {
    const many = Array.from({ length: 5_000 }, (_, i) => `  - address: r${i}.io\n`).join('');
    assert.throws(() => parse(`address: a.io\nregistries:\n${many}`), /registries: 5000 entries; the limit is 256/);
    assert.equal(
      parse(`address: a.io\nregistries:\n${many.split('\n').slice(0, 256).join('\n')}\n`).config.registries.length,
      257,
    );
  });
});

describe('readConfigText', () => {
  const tmp = tempDir('config-read');
  after(() => tmp.remove());

  it('reads a regular file', async () => {
    const path = join(tmp.path, 'ok.yaml');
    writeFileSync(path, 'address: a.io\n');
    assert.equal(await readConfigText(path), 'address: a.io\n');
  });

  const refused: [string, (path: string) => void, RegExp][] = [
    // Before: start-up and every later reload blocked on the open, forever.
    ['a FIFO', (path) => execFileSync('mkfifo', [path]), /not a regular file/],
    // Before: the heap filled until the process died.
    ['a symlink to /dev/zero', (path) => symlinkSync('/dev/zero', path), /not a regular file/],
    [
      'a file of 50 MB',
      (path) => writeFileSync(path, `address: a.io\n#${'x'.repeat(50 * 1024 * 1024)}\n`),
      /larger than 256 KiB/,
    ],
    ['a missing file', () => {}, /cannot read: ENOENT/],
  ];
  for (const [what, make, message] of refused) {
    it(`refuses ${what} at once, naming the file`, async () => {
      const path = join(tmp.path, what.replace(/\W+/g, '-'));
      make(path);
      const started = performance.now();
      await assert.rejects(
        readConfigText(path),
        (e: unknown) => e instanceof ConfigError && e.message.startsWith(`${path}: `) && message.test(e.message),
      );
      assert.ok(performance.now() - started < 2000);
    });
  }
});

describe('registry addresses', () => {
  const cases: [string, ReturnType<typeof parseRegistryAddress>][] = [
    ['docker.io', { scheme: 'https', schemeGiven: false, domain: 'docker.io', prefix: '' }],
    ['index.docker.io', { scheme: 'https', schemeGiven: false, domain: 'docker.io', prefix: '' }],
    [
      'registry.example.com:5000',
      { scheme: 'https', schemeGiven: false, domain: 'registry.example.com:5000', prefix: '' },
    ],
    ['http://sealos.hub:5000', { scheme: 'http', schemeGiven: true, domain: 'sealos.hub:5000', prefix: '' }],
    [
      'https://harbor.corp/dockerhub-proxy/',
      { scheme: 'https', schemeGiven: true, domain: 'harbor.corp', prefix: 'dockerhub-proxy' },
    ],
    ['HTTP://Sealos.Hub:5000', { scheme: 'http', schemeGiven: true, domain: 'sealos.hub:5000', prefix: '' }],
    ['ftp://x', undefined],
    ['http://', undefined],
    ['bad host', undefined],
  ];
  for (const [address, expected] of cases) {
    it(`parses ${address}`, () => assert.deepEqual(parseRegistryAddress(address), expected));
  }
  it('has the documented defaults', () => assert.equal(DEFAULTS.registryPriority, 500));
});
