import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/load.js';
import { DEFAULTS } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';
import { parseRegistryAddress } from '../../src/registry/registry.js';

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
    assert.deepEqual(config.cache, { imageCacheSize: 1024, imageCacheTtlMs: 3_600_000, domainCacheTtlMs: 600_000, statsLogIntervalMs: 0, disableStats: true });
    const [offline, hub, plain, harbor] = config.registries;
    assert.deepEqual(offline!.credentials, { username: 'admin', password: 'pass:with:colons' }, 'split at the first colon');
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
    const { warnings } = parse('address: sealos.hub\nfoo: 1\ncache:\n  bar: 2\nregistries:\n  - address: a.io\n    prio: 3\n');
    assert.deepEqual(warnings, [
      `${FILE}: unknown key "foo" (ignored)`,
      `${FILE}: unknown key "registries[0].prio" (ignored)`,
      `${FILE}: unknown key "cache.bar" (ignored)`,
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
    ['address: a.io\nregistries:\n  - address: r1\n  - address: r2\n  - address: r3\n    priority: high\n', 'registries[2].priority: expected a number, got "high"'],
    ['address: a.io\ntimeout: 15 minutes\n', 'timeout: expected a duration such as "15s" or "1m30s", got "15 minutes"'],
    ['address: a.io\nreloadInterval: -5s\n', 'reloadInterval: must not be negative, got "-5s"'],
    ['address: a.io\ndebug: "yes"\n', 'debug: expected true or false, got "yes"'],
    ['address: a.io\nregistries: docker.io\n', 'registries: expected a list, got "docker.io"'],
    ['address: a.io\nregistries:\n  - docker.io\n', 'registries[0]: expected a mapping, got "docker.io"'],
    ['address: a.io\nauth: nocolon\n', 'auth: expected "user:password"'],
    ['address: a.io\nauth: ${MISSING_VAR}:x\n', 'auth: environment variable MISSING_VAR is not set'],
    ['address: a.io\ncache:\n  imageCacheTTL: 10\n', 'cache.imageCacheTTL: expected a duration'],
    ['- just\n- a list\n', 'expected a YAML mapping at the top level'],
    ['address: [unclosed\n', 'invalid YAML'],
    ['address: a.io\naddress: b.io\n', 'invalid YAML'],
  ];
  for (const [text, message] of invalid) {
    it(`rejects: ${message}`, () => {
      assert.throws(
        () => parse(text),
        (e: unknown) => e instanceof ConfigError && e.code === 'ERR_CONFIG' && e.message.startsWith(`${FILE}: `) && e.message.includes(message),
      );
    });
  }

  it('never echoes a long value (which may be a secret) in an error', () => {
    const secret = 'x'.repeat(64);
    assert.throws(() => parse(`address: a.io\ndebug: ${secret}\n`), (e: Error) => !e.message.includes(secret));
  });
});

describe('registry addresses', () => {
  const cases: [string, ReturnType<typeof parseRegistryAddress>][] = [
    ['docker.io', { scheme: 'https', domain: 'docker.io', prefix: '' }],
    ['index.docker.io', { scheme: 'https', domain: 'docker.io', prefix: '' }],
    ['registry.example.com:5000', { scheme: 'https', domain: 'registry.example.com:5000', prefix: '' }],
    ['http://sealos.hub:5000', { scheme: 'http', domain: 'sealos.hub:5000', prefix: '' }],
    ['https://harbor.corp/dockerhub-proxy/', { scheme: 'https', domain: 'harbor.corp', prefix: 'dockerhub-proxy' }],
    ['HTTP://Sealos.Hub:5000', { scheme: 'http', domain: 'sealos.hub:5000', prefix: '' }],
    ['ftp://x', undefined],
    ['http://', undefined],
    ['bad host', undefined],
  ];
  for (const [address, expected] of cases) {
    it(`parses ${address}`, () => assert.deepEqual(parseRegistryAddress(address), expected));
  }
  it('has the documented defaults', () => assert.equal(DEFAULTS.registryPriority, 500));
});
