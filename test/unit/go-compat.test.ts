// Drop-in for the Go image-cri-shim (labring/sealos, lifecycle/staging/src/github.com/labring/
// image-cri-shim): every config file it starts with starts this one, read the same way, with a
// warning where that reading is not what the text looks like. Each case names the Go code whose
// behaviour it takes.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigMapData } from '../../src/config/configmap.js';
import { parseConfigText } from '../../src/config/load.js';
import type { ShimConfig } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';
import type { ProbeStatus } from '../../src/registry/client.js';
import { RewriteEngine, winnerOf } from '../../src/rewrite/engine.js';
import { FakeProber } from '../support/fake-prober.js';

const FILE = '/etc/image-cri-shim.yaml';
const BASE = 'address: http://sealos.hub:5000\n';

interface Case {
  /** What the file says, after BASE. */
  readonly text: string;
  /** The Go code this reading follows. */
  readonly go: string;
  readonly check: (c: ShimConfig) => void;
  /** A warning names this key. */
  readonly warns: string;
}

const CASES: Record<string, Case> = {
  'auth with no ":" is a user with an empty password': {
    text: 'auth: robot-token\n',
    go: 'pkg/types/config.go PreProcess, splitNameAndPasswd',
    check: (c) => assert.deepEqual(c.registries[0]!.credentials, { username: 'robot-token', password: '' }),
    warns: 'auth',
  },
  'force: yes is true (YAML 1.1)': {
    text: 'force: yes\n',
    go: 'Unmarshal via sigs.k8s.io/yaml (go-yaml v2, YAML 1.1 booleans)',
    check: (c) => assert.equal(c.force, true),
    warns: 'force',
  },
  'force: on is true, debug: off is false (YAML 1.1)': {
    text: 'force: on\ndebug: off\n',
    go: 'Unmarshal via sigs.k8s.io/yaml (go-yaml v2, YAML 1.1 booleans)',
    check: (c) => assert.deepEqual([c.force, c.debug], [true, false]),
    warns: 'debug',
  },
  'capitalised keys are matched regardless of case': {
    text: 'OfflinePriority: 900\nDebug: true\nCache:\n  ImageCacheSize: 7\n',
    go: 'Unmarshal via sigs.k8s.io/yaml then encoding/json (case-insensitive field names)',
    check: (c) => assert.deepEqual([c.registries[0]!.priority, c.debug, c.cache.imageCacheSize], [900, true, 7]),
    warns: 'OfflinePriority',
  },
  'a registry entry with an empty address is skipped': {
    text: 'registries:\n  - address: ""\n  - address: r.io\n',
    go: 'pkg/types/config.go PreProcess (registry.Address == "" → continue)',
    check: (c) =>
      assert.deepEqual(
        c.registries.map((r) => r.domain),
        ['sealos.hub:5000', 'r.io'],
      ),
    warns: 'registries[0].address',
  },
  'a negative timeout means the default': {
    text: 'timeout: -1s\n',
    go: 'pkg/types/config.go PreProcess (timeout defaulted to 15m)',
    check: (c) => assert.equal(c.timeoutMs, 15 * 60_000),
    warns: 'timeout',
  },
  'a ${VAR} that is not set is kept as written': {
    text: 'auth: admin:${NOT_SET_ANYWHERE}\n',
    go: 'the Go shim does not expand variables: the password is the text as written',
    check: (c) =>
      assert.deepEqual(c.registries[0]!.credentials, { username: 'admin', password: '${NOT_SET_ANYWHERE}' }),
    warns: 'auth',
  },
  'a key written twice takes the last value': {
    text: 'debug: false\ndebug: true\n',
    go: 'Unmarshal via sigs.k8s.io/yaml (go-yaml v2, not strict: the last key wins)',
    check: (c) => assert.equal(c.debug, true),
    warns: 'debug',
  },
  'the same registry listed twice: the last entry counts': {
    text: 'registries:\n  - address: r.io\n    priority: 100\n  - address: https://r.io\n    priority: 200\n',
    go: 'pkg/types/config.go PreProcess (criAuth[domain] = …: one entry per domain, the last)',
    check: (c) =>
      assert.deepEqual(
        c.registries.slice(1).map((r) => [r.domain, r.priority]),
        [['r.io', 200]],
      ),
    warns: 'registries',
  },
};

describe('Go image-cri-shim config files start this shim', () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(`${name} (${c.go})`, () => {
      const { config, warnings } = parseConfigText(BASE + c.text, FILE, {});
      c.check(config);
      assert.ok(
        warnings.some((w) => w.startsWith(`${FILE}: ${c.warns}`)),
        `a warning naming the file and ${c.warns}: ${warnings.join(' | ')}`,
      );
    });
  }

  // CacheConfig.normalize (pkg/types/config.go): each field on its own.
  const cache: [string, Partial<ShimConfig['cache']>][] = [
    ['statsLogInterval: 0s', { statsLogIntervalMs: 60_000, disableStats: false }],
    ['statsLogInterval: 0s\n  disableStats: true', { disableStats: true }],
    ['imageCacheSize: 0', { imageCacheSize: 1024 }],
    ['imageCacheSize: -1', { imageCacheSize: 0 }],
    ['imageCacheTTL: 0s\n  domainCacheTTL: 0s', { imageCacheTtlMs: 30 * 60_000, domainCacheTtlMs: 10 * 60_000 }],
  ];
  for (const [text, expected] of cache) {
    it(`cache: ${text.replace(/\n\s*/g, ', ')} (CacheConfig.normalize)`, () => {
      const { config } = parseConfigText(`${BASE}cache:\n  ${text}\n`, FILE, {});
      for (const [k, v] of Object.entries(expected)) assert.equal(config.cache[k as keyof ShimConfig['cache']], v, k);
    });
  }

  it('reloadInterval: 0 means 15s (PreProcess, DefaultReloadInterval)', () => {
    assert.equal(parseConfigText(`${BASE}reloadInterval: 0s\n`, FILE, {}).config.reloadIntervalMs, 15_000);
  });

  // What the Go shim refuses too stays an error, naming the file and key.
  const refused: [string, string, string][] = [
    ['force: "yes"', 'force', 'a quoted "yes" is a string; encoding/json refuses it for a bool'],
    ['offlinePriority: high', 'offlinePriority', 'a string for a number'],
    ['registries: docker.io', 'registries', 'a string for a list'],
    ['timeout: banana', 'timeout', 'metav1.Duration: time.ParseDuration fails'],
    ['address: ""', 'address', 'PreProcess: "registry addr is empty"'],
  ];
  for (const [text, key, why] of refused) {
    it(`refuses ${text} (${why})`, () => {
      assert.throws(
        () => parseConfigText(text.startsWith('address') ? `${text}\n` : `${BASE}${text}\n`, FILE, {}),
        (e: unknown) => e instanceof ConfigError && e.key === key && e.message.startsWith(`${FILE}: ${key}: `),
      );
    });
  }
});

describe('the ConfigMap, read by the same field reader (lenient)', () => {
  it('warns about a misspelled key (before: silently ignored)', () => {
    const { fields, warnings } = parseConfigMapData('regsitries:\n  - address: r.io\nofflinePriority: 900\n');
    assert.equal(fields.registries, undefined);
    assert.equal(fields.offlinePriority, 900);
    assert.deepEqual(warnings, ['configmap kube-system/image-cri-shim: regsitries: unknown key (ignored)']);
  });

  it('drops a registry whose address names none, and keeps the others (before: the whole sync failed)', () => {
    const { fields, warnings } = parseConfigMapData(
      'registries:\n  - address: "bad host"\n    priority: 9\n  - address: r.io\n    priority: 8\n',
    );
    assert.deepEqual(
      fields.registries?.map((r) => r.address),
      ['r.io'],
    );
    assert.match(warnings.join('\n'), /registries\[0\]\.address: not a registry address: "bad host"; ignored/);
  });

  it('takes YAML 1.1 booleans and any key case, as the file does', () => {
    const { fields } = parseConfigMapData('Debug: yes\nsealos:\n  Address: http://s.hub:5000\n');
    assert.deepEqual([fields.debug, fields.address], [true, 'http://s.hub:5000']);
  });
});

describe('the same image goes to the same registry as with the Go shim', () => {
  const DIGEST = `sha256:${'d'.repeat(64)}`;
  const decide = async (yaml: string, table: Record<string, ProbeStatus>, image: string) => {
    const engine = new RewriteEngine(new FakeProber(table), parseConfigText(yaml, FILE, {}).config);
    return winnerOf(await engine.decide(image, 'PullImage'))?.image;
  };
  const cases: [string, string, string, Record<string, ProbeStatus>, string, string | undefined][] = [
    [
      'name:tag@digest that no registry has by digest: the tag from the offline registry',
      'pkg/server/utils.go replaceImage (on a failed fetch of name@digest, retried with the name before "@")',
      BASE,
      { [`sealos.hub:5000@${DIGEST}`]: 'not_found', 'sealos.hub:5000@v1': 'found' },
      `app:v1@${DIGEST}`,
      'sealos.hub:5000/library/app:v1',
    ],
    [
      '…unless digestFallback: false',
      'ours only: a strict node verifies every digest',
      `${BASE}digestFallback: false
`,
      { 'sealos.hub:5000@v1': 'found' },
      `app:v1@${DIGEST}`,
      undefined,
    ],
    [
      '…and the digest is kept when a registry has it',
      'pkg/server/utils.go replaceImage',
      BASE,
      { 'sealos.hub:5000': 'found' },
      `app:v1@${DIGEST}`,
      `sealos.hub:5000/library/app:v1@${DIGEST}`,
    ],
    [
      'equal priority: the tie is broken on "index.docker.io", not "docker.io"',
      'the Go shim keys Docker Hub as index.docker.io (crane GetRegistryDomain/NormalizeRegistry)',
      `${BASE}registries:\n  - address: docker.io\n    priority: 500\n  - address: ghcr.io\n    priority: 500\n`,
      { 'docker.io': 'found', 'ghcr.io': 'found' },
      'app:v1',
      'ghcr.io/library/app:v1',
    ],
  ];
  for (const [name, go, yaml, table, image, expected] of cases) {
    it(`${name} (${go})`, async () => assert.equal(await decide(yaml, table, image), expected));
  }
});
