import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/load.js';
import type { ShimConfig } from '../../src/config/types.js';
import { candidates, orderRegistries } from '../../src/rewrite/candidates.js';
import { alternatives, formatCacheStats, RewriteEngine, winnerOf } from '../../src/rewrite/engine.js';
import { FakeProber } from '../support/fake-prober.js';
import { parseReference } from '../../src/registry/reference.js';

function config(yaml: string): ShimConfig {
  return parseConfigText(yaml, 'test.yaml', {}).config;
}

const BASE = `address: http://sealos.hub:5000
registries:
  - address: docker.io
    priority: 600
  - address: registry.example.com
    priority: 800
  - address: fast-registry.io
    priority: 1200
  - address: https://harbor.corp/proxy
`;

describe('candidate order', () => {
  it('orders by priority, offline first on ties, then by domain', () => {
    const c = config(`address: http://sealos.hub:5000
offlinePriority: 500
registries:
  - address: zz.io
  - address: aa.io
  - address: top.io
    priority: 9000
  - address: low.io
    priority: 1
`);
    assert.deepEqual(
      orderRegistries(c.registries).map((r) => r.domain),
      ['top.io', 'sealos.hub:5000', 'aa.io', 'zz.io', 'low.io'],
    );
  });

  it('drops the source domain and keeps tag, digest and any path prefix', () => {
    const ref = parseReference(`quay.io/coreos/etcd:v3@sha256:${'b'.repeat(64)}`);
    assert.ok(ref.ok);
    const list = candidates(ref.ref, orderRegistries(config(BASE).registries)).map((c) => c.image);
    assert.deepEqual(list, [
      `fast-registry.io/coreos/etcd:v3@sha256:${'b'.repeat(64)}`,
      `sealos.hub:5000/coreos/etcd:v3@sha256:${'b'.repeat(64)}`,
      `registry.example.com/coreos/etcd:v3@sha256:${'b'.repeat(64)}`,
      `docker.io/coreos/etcd:v3@sha256:${'b'.repeat(64)}`,
      `harbor.corp/proxy/coreos/etcd:v3@sha256:${'b'.repeat(64)}`,
    ]);
  });
});

describe('RewriteEngine', () => {
  it('picks the highest-priority registry that has the image', async () => {
    const prober = new FakeProber({ 'sealos.hub:5000': 'found', 'docker.io': 'found' });
    const engine = new RewriteEngine(prober, config(BASE));
    const d = await engine.decide('nginx', 'PullImage');
    assert.equal(winnerOf(d)?.image, 'sealos.hub:5000/library/nginx:latest');
    assert.deepEqual(
      (await alternatives(d)).found.map((c) => c.image),
      ['docker.io/library/nginx:latest'],
    );
    assert.equal(prober.calls.length, 5, 'every candidate probed once, concurrently');
  });

  it('decides as soon as every higher-priority candidate answered, not waiting for lower ones', async () => {
    const prober = new FakeProber({ 'fast-registry.io': 'found', 'docker.io': 'found' }, { 'docker.io': 2000 });
    const engine = new RewriteEngine(prober, config(BASE));
    const started = performance.now();
    const d = await engine.decide('nginx', 'PullImage');
    assert.equal(winnerOf(d)?.registry.domain, 'fast-registry.io');
    assert.ok(performance.now() - started < 500);
  });

  it('passes image IDs and unparseable references through without probing', async () => {
    const prober = new FakeProber({});
    const engine = new RewriteEngine(prober, config(BASE));
    for (const image of [`sha256:${'c'.repeat(64)}`, 'Bad::Ref']) {
      const d = await engine.decide(image, 'ImageStatus');
      assert.equal(winnerOf(d), undefined);
      assert.equal(d.ref, undefined);
    }
    assert.equal(prober.calls.length, 0);
  });

  it('coalesces concurrent lookups of one image and caches the decision', async () => {
    const prober = new FakeProber({ 'docker.io': 'found' }, { 'docker.io': 20 });
    const engine = new RewriteEngine(prober, config(BASE));
    const all = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        engine.decide(i % 2 ? 'nginx' : 'docker.io/library/nginx:latest', 'PullImage'),
      ),
    );
    assert.ok(
      all.every((d) => d === all[0]),
      'one shared decision',
    );
    assert.equal(prober.calls.length, 5, 'one probe per registry');
    await engine.decide('nginx:latest', 'ImageStatus');
    assert.equal(prober.calls.length, 5, 'cache hit');
    assert.equal(engine.stats.imageHits, 1);
    assert.equal(engine.stats.imageMisses, 1);
  });

  it('keeps a decision made while a registry was unreachable only briefly', async () => {
    const prober = new FakeProber({ 'fast-registry.io': 'unreachable', 'sealos.hub:5000': 'found' });
    const engine = new RewriteEngine(prober, config(BASE));
    const d = await engine.decide('nginx', 'PullImage');
    assert.equal(d.transient, true);
    assert.equal(winnerOf(d)?.registry.domain, 'sealos.hub:5000');
    const steady = await new RewriteEngine(new FakeProber({ 'fast-registry.io': 'found' }), config(BASE)).decide(
      'nginx',
      'PullImage',
    );
    assert.equal(steady.transient, false);
  });

  it(
    'names the registries that could not be asked, and offers those that timed out as places a pull may still ' +
      'succeed',
    async () => {
      const prober = new FakeProber({ 'fast-registry.io': 'timeout', 'docker.io': 'bad_response' });
      const d = await new RewriteEngine(prober, config(BASE)).decide('nginx', 'PullImage');
      assert.equal(winnerOf(d), undefined);
      assert.equal(d.transient, true);
      assert.match(d.reason, /not answered: fast-registry\.io \(timeout: .*\), docker\.io \(bad_response: .*\)/);
      const { found, timedOut } = await alternatives(d);
      assert.deepEqual(found, []);
      assert.deepEqual(
        timedOut.map((c) => c.registry.domain),
        ['fast-registry.io'],
        'a registry that timed out may be busy; one that answered badly is not offered',
      );
      const none = await new RewriteEngine(new FakeProber({}), config(BASE)).decide('nginx', 'PullImage');
      assert.equal(none.reason, 'no configured registry has the image');
    },
  );

  it('evicts beyond imageCacheSize and counts evictions', async () => {
    const prober = new FakeProber({ 'sealos.hub:5000': 'found' });
    const engine = new RewriteEngine(prober, config('address: sealos.hub:5000\ncache:\n  imageCacheSize: 2\n'));
    for (const image of ['a', 'b', 'c', 'a']) await engine.decide(image, 'PullImage');
    assert.equal(engine.stats.imageEvictions, 2);
    assert.equal(prober.calls.length, 4, '"a" was evicted and probed again');
  });

  it('does not cache when the cache is off', async () => {
    const prober = new FakeProber({ 'sealos.hub:5000': 'found' });
    const engine = new RewriteEngine(prober, config('address: sealos.hub:5000\ncache:\n  imageCacheSize: -1\n'));
    await engine.decide('a', 'PullImage');
    await engine.decide('a', 'PullImage');
    assert.equal(prober.calls.length, 2);
  });

  it('a config change invalidates cached decisions and forgets credentials', async () => {
    const prober = new FakeProber({ 'sealos.hub:5000': 'found' });
    const engine = new RewriteEngine(prober, config(BASE));
    await engine.decide('nginx', 'PullImage');
    engine.configure(config(BASE.replace('priority: 1200', 'priority: 100')));
    const d = await engine.decide('nginx', 'PullImage');
    assert.equal(prober.calls.length, 10);
    assert.equal(winnerOf(d)?.registry.domain, 'sealos.hub:5000');
    assert.equal(prober.forgets, 1);
    assert.match(
      formatCacheStats(engine.stats, new Date(Date.UTC(2026, 10, 28, 12, 0, 0, 345))),
      new RegExp(
        '^cache stats: image_hits=0 image_misses=2 domain_hits=\\d+ domain_misses=\\d+ image_evictions=0 ' +
          'domain_evictions=0 invalidations=1 generated_at=2026-11-28T12:00:00Z$',
      ),
    );
  });

  it('holds decisions until the configuration being read is in force, then decides on it', async () => {
    const prober = new FakeProber({ 'sealos.hub:5000': 'found', 'fast-registry.io': 'found' });
    const engine = new RewriteEngine(prober, config(BASE));
    let readDone!: () => void;
    const reading = new Promise<void>((resolve) => {
      readDone = resolve;
    });
    engine.holdUntil(reading.then(() => engine.configure(config(BASE.replace('priority: 1200', 'priority: 100')))));
    const asked = engine.decide('nginx', 'PullImage');
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(prober.calls.length, 0, 'nothing probed while held');
    readDone();
    assert.equal(winnerOf(await asked)?.registry.domain, 'sealos.hub:5000', 'decided on the configuration read');
  });

  it('a failed read releases held decisions on the configuration in force', async () => {
    const prober = new FakeProber({ 'fast-registry.io': 'found' });
    const engine = new RewriteEngine(prober, config(BASE));
    engine.holdUntil(Promise.reject(new Error('API server down')));
    assert.equal(winnerOf(await engine.decide('nginx', 'PullImage'))?.registry.domain, 'fast-registry.io');
  });
});
