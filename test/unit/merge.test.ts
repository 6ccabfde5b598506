import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfigMapData } from '../../src/config/configmap.js';
import { parseConfigText } from '../../src/config/load.js';
import { mergeConfigMap } from '../../src/config/merge.js';
import { syncConfigMapIntoFile } from '../../src/config/sync.js';
import { setLogSink } from '../../src/log.js';
import { tempDir } from '../support/procs.js';
import { GUIDE_CONFIGMAP } from '../support/samples.js';

const LOCAL = `# node-local settings, keep me
shim: /var/run/image-cri-shim.sock
cri: /run/containerd/containerd.sock
address: http://sealos.hub:5000   # the offline registry
auth: admin:old
offlinePriority: 1000
registries:
  - address: docker.io
    auth: user:pass
    priority: 800  # local priority
  - address: registry1.com
  - address: registry2.com
timeout: 15m
# cache tuned for this node
cache:
  imageCacheSize: 2048
  imageCacheTTL: 30m
`;

function merge(cm: string, local = LOCAL) {
  const { fields, warnings } = parseConfigMapData(cm);
  return { ...mergeConfigMap(local, fields), warnings };
}

describe('ConfigMap merge', () => {
  it("applies the guide's example: registries replaced, priorities and offlinePriority kept from the ConfigMap", () => {
    const { text, changed, warnings } = merge(GUIDE_CONFIGMAP);
    assert.equal(changed, true);
    assert.deepEqual(warnings, []);
    const { config } = parseConfigText(text, 'merged', {});
    assert.deepEqual(
      config.registries.map((r) => [r.address, r.priority, r.credentials?.username]),
      [
        ['http://sealos.hub:5000', 1000, 'admin'],
        ['docker.io', 600, 'dockeruser'],
        ['registry.example.com', 800, 'reguser'],
        ['fast-registry.io', 1200, 'fastuser'],
      ],
    );
    assert.equal(config.registries[0]!.credentials?.password, 'passw0rd');
    assert.equal(config.cache.imageCacheSize, 1024);
    assert.equal(config.criSocket, '/run/containerd/containerd.sock', 'local-only keys kept');
  });

  it('replaces a value under the key as the file writes it (Address:, matched regardless of case)', () => {
    const { text, changed } = mergeConfigMap('Address: http://old.hub:5000\nCache:\n  ImageCacheSize: 5\n', {
      address: 'http://new.hub:5000',
      cache: { imageCacheSize: 9 },
    });
    assert.equal(changed, true);
    assert.equal(text, 'Address: http://new.hub:5000\nCache:\n  ImageCacheSize: 9\n');
  });

  it("keeps the operator's comments and key order", () => {
    const { text } = merge(GUIDE_CONFIGMAP);
    for (const comment of ['# node-local settings, keep me', '# the offline registry', '# cache tuned for this node'])
      assert.ok(text.includes(comment), comment);
    const keys = text
      .split('\n')
      .filter((l) => /^[a-z]/i.test(l))
      .map((l) => l.split(':')[0]);
    assert.deepEqual(keys.slice(0, 7), ['shim', 'cri', 'address', 'auth', 'offlinePriority', 'registries', 'timeout']);
  });

  it('leaves local values alone for fields the ConfigMap does not set', () => {
    const { text, changed } = merge('sealos:\n  auth:\n    username: admin\n    password: new\n');
    assert.equal(changed, true);
    const { config } = parseConfigText(text, 'merged', {});
    assert.equal(config.registries.length, 4, 'registries untouched');
    assert.equal(config.registries[1]!.priority, 800);
    assert.equal(config.registries[0]!.credentials?.password, 'new');
    assert.equal(config.cache.imageCacheSize, 2048);
  });

  it('sets each cache field on its own', () => {
    const { text } = merge('cache:\n  statsLogInterval: 5m\n');
    const { config } = parseConfigText(text, 'merged', {});
    assert.equal(config.cache.imageCacheSize, 2048);
    assert.equal(config.cache.statsLogIntervalMs, 300_000);
  });

  it("reports no change when the file already holds the ConfigMap's values", () => {
    const first = merge(GUIDE_CONFIGMAP);
    const second = merge(GUIDE_CONFIGMAP, first.text);
    assert.equal(second.changed, false);
    assert.equal(second.text, first.text);
  });

  it('creates what a minimal local file lacks', () => {
    const { text } = merge(GUIDE_CONFIGMAP, 'address: http://sealos.hub:5000\n');
    assert.equal(parseConfigText(text, 'merged', {}).config.registries.length, 4);
  });

  it('keeps ${VAR} references literally; they are expanded when the file is loaded', () => {
    const { text } = merge('sealos:\n  auth:\n    username: ${SEALOS_USERNAME}\n    password: ${SEALOS_PASSWORD}\n');
    assert.match(text, /auth: \$\{SEALOS_USERNAME\}:\$\{SEALOS_PASSWORD\}/);
    const { config } = parseConfigText(text, 'merged', { SEALOS_USERNAME: 'u', SEALOS_PASSWORD: 'p' });
    assert.deepEqual(config.registries[0]!.credentials, { username: 'u', password: 'p' });
  });

  const badFields: [string, RegExp][] = [
    ['timeout: soon\n', /timeout: expected a duration such as "15s" or "1m30s", got "soon"; ignored/],
    ['offlinePriority: high\n', /offlinePriority: expected a number, got "high"; ignored/],
    [
      'registries:\n  - address: a.io\n    priority: top\n',
      /registries\[0\]\.priority: expected a number, got "top"; ignored/,
    ],
    ['registries:\n  - auth: {username: u}\n', /registries\[0\]\.address: is empty; entry skipped/],
    ['cache:\n  imageCacheTTL: forever\n', /cache\.imageCacheTTL: expected a duration/],
    ['debug: "on"\n', /debug: expected true or false/],
  ];
  for (const [cm, warning] of badFields) {
    it(`warns and ignores: ${warning.source.slice(0, 40)}`, () => {
      const { warnings, text } = merge(cm);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /^configmap kube-system\/image-cri-shim: /);
      assert.match(warnings[0]!, warning);
      parseConfigText(text, 'merged', {}); // what is written still loads
    });
  }

  it('never echoes a malformed credential in a warning', () => {
    const { warnings } = parseConfigMapData('sealos:\n  auth: supersecretwithoutcolon\n');
    assert.equal(warnings.length, 1);
    assert.ok(!warnings[0]!.includes('supersecret'));
  });

  it('rejects content that is not YAML', () => {
    assert.throws(
      () => parseConfigMapData('registries: [unclosed\n'),
      /configmap kube-system\/image-cri-shim: registries.yaml: invalid YAML/,
    );
  });

  // Before: 50,000 registries were merged into the file, and the shim died applying them.
  it('ignores a registries list longer than the limit, with a warning naming both', () => {
    const many = Array.from({ length: 5_000 }, (_, i) => `- address: r${i}\n`).join('');
    const { fields, warnings } = parseConfigMapData(`offlinePriority: 900\nregistries:\n${many}`);
    assert.equal(fields.registries, undefined);
    assert.equal(fields.offlinePriority, 900, 'the other fields are still taken');
    assert.deepEqual(warnings, [
      'configmap kube-system/image-cri-shim: registries: 5000 entries; the limit is 256; ignored',
    ]);
  });

  it('refuses, before parsing it, content larger than any real configuration (50,000 registries: 0.9 MB)', () => {
    const many = Array.from({ length: 50_000 }, (_, i) => `- address: r${i}\n`).join('');
    assert.throws(() => parseConfigMapData(`registries:\n${many}`), /larger than 256 KiB; ignored/);
  });
});

describe('ConfigMap sync into the file', () => {
  const tmp = tempDir('sync');
  after(() => tmp.remove());

  // Before: the merged file's error quoted "http://alice:S3CRET@host", and so did the sync line.
  it('never prints, nor writes, a password written into a registry address', async () => {
    const path = join(tmp.path, 'image-cri-shim.yaml');
    writeFileSync(path, LOCAL);
    const lines: string[] = [];
    setLogSink((l) => lines.push(l));
    try {
      const result = await syncConfigMapIntoFile(
        path,
        'registries:\n  - address: http://alice:S3CRET-IN-CM@r.io\n    priority: 10\n',
        {},
      );
      assert.equal(result.outcome, 'written');
    } finally {
      setLogSink((l) => process.stderr.write(`${l}\n`));
    }
    assert.ok(
      lines.some((l) => l.includes('registries[0].address')),
      lines.join('\n'),
    );
    assert.ok(!lines.join('\n').includes('S3CRET-IN-CM'), lines.join('\n'));
    const written = readFileSync(path, 'utf8');
    assert.ok(!written.includes('S3CRET-IN-CM'));
    assert.match(written, /address: http:\/\/r\.io/);
  });
});
