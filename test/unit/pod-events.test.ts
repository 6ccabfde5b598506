// Events on pods against the test API server: folded like kubelet's recorder folds them, sent in
// the background, bounded, and never in the way of the caller when the API server hangs.

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { KubeClient } from '../../src/kube/api-client.js';
import { connectCluster, findCluster } from '../../src/kube/cluster.js';
import { type EventOutcome, PodEvents } from '../../src/kube/pod-events.js';
import { FakeKubeApi } from '../support/kube-api.js';
import { tempDir } from '../support/procs.js';

const dir = tempDir('pod-events');
let api: FakeKubeApi;
let client: KubeClient;

before(async () => {
  api = await FakeKubeApi.start(dir.path);
  const env = { KUBECONFIG: api.kubeconfig, HOME: dir.path };
  client = await connectCluster(findCluster(env), env);
});

after(async () => {
  await client.close();
  await api.stop();
  dir.remove();
});

beforeEach(() => {
  api.hangEvents = false;
  api.expireEvents();
});

function recorder(
  options: {
    enabled?: () => boolean;
    maxPending?: number;
    requestTimeoutMs?: number;
    rate?: { burst: number; perSecond: number };
  } = {},
) {
  const outcomes: EventOutcome[] = [];
  const events = new PodEvents(client, 'node-1', {
    enabled: options.enabled ?? (() => true),
    onOutcome: (o) => outcomes.push(o),
    maxPending: options.maxPending,
    requestTimeoutMs: options.requestTimeoutMs,
    rate: options.rate,
  });
  return { events, outcomes };
}

const web = { name: 'web-0', namespace: 'shop', uid: 'uid-web-0' };
const pulled = {
  type: 'Normal',
  reason: 'ImageRewritten',
  message: 'Pulled nginx:1.25 from a.io/library/nginx:1.25',
} as const;

describe('pod events', () => {
  it('sends at most a burst and then its rate; repeats meanwhile fold, the rest is dropped and counted', async () => {
    const { events, outcomes } = recorder({ rate: { burst: 5, perSecond: 10 }, maxPending: 20 });
    const started = Date.now();
    for (let i = 0; i < 50; i++) events.record({ pod: { ...web, name: `web-${i}`, uid: `u-${i}` }, ...pulled });
    for (let i = 0; i < 10; i++) events.record({ pod: { ...web, name: 'web-19', uid: 'u-19' }, ...pulled });
    await new Promise((r) => setTimeout(r, 500));
    const sent = api.events().length;
    assert.ok(sent <= 5 + 10 * ((Date.now() - started) / 1000) + 1, `${sent} sent in half a second`);
    await events.idle(10_000);
    assert.equal(api.events().length, 20, 'each queued pod once');
    assert.equal(outcomes.filter((o) => o === 'dropped').length, 30);
    assert.equal(outcomes.filter((o) => o === 'folded').length, 10);
    assert.equal(api.events().find((e) => e.metadata.name.startsWith('web-19.'))?.count, 11);
    events.stop();
  });

  it('keeps nothing of a pod whose name, namespace or UID is longer than Kubernetes allows', async () => {
    const { events, outcomes } = recorder();
    for (const pod of [
      { ...web, name: 'n'.repeat(254) },
      { ...web, namespace: 'n'.repeat(64) },
      { ...web, uid: 'u'.repeat(37) },
    ])
      events.record({ pod, ...pulled });
    events.record({
      pod: { ...web, name: 'n'.repeat(253), namespace: 'n'.repeat(63), uid: 'u'.repeat(36) },
      ...pulled,
    });
    await events.idle(5000);
    assert.deepEqual(outcomes, ['skipped', 'skipped', 'skipped', 'created']);
    assert.equal(api.events().length, 1);
  });

  it('records one Event on the pod, as kubectl describe pod shows it', async () => {
    const { events } = recorder();
    events.record({ pod: web, ...pulled });
    await events.idle(5000);
    const [event, ...rest] = api.events();
    assert.equal(rest.length, 0);
    assert.equal(event!.metadata.namespace, 'shop');
    assert.match(event!.metadata.name, /^web-0\.[0-9a-f]+$/);
    assert.deepEqual(event!.involvedObject, { apiVersion: 'v1', kind: 'Pod', ...web });
    assert.deepEqual(event!.source, { component: 'image-cri-shim', host: 'node-1' });
    assert.equal(event!.reason, 'ImageRewritten');
    assert.equal(event!.type, 'Normal');
    assert.equal(event!.message, pulled.message);
    assert.equal(event!.count, 1);
    events.stop();
  });

  it('folds 20 identical events into one Event with count 20; another pod or message is its own Event', async () => {
    const { events, outcomes } = recorder();
    const postsBefore = api.requests.filter((r) => r.method === 'POST').length;
    for (let i = 0; i < 20; i++) events.record({ pod: web, ...pulled });
    events.record({ pod: { ...web, name: 'web-1', uid: 'uid-web-1' }, ...pulled });
    events.record({ pod: web, ...pulled, message: 'Pulled redis:7 from a.io/library/redis:7' });
    await events.idle(5000);
    const list = api.events();
    assert.equal(list.length, 3);
    assert.equal(list.find((e) => e.involvedObject.name === 'web-0' && e.message === pulled.message)?.count, 20);
    const posts = api.requests.filter((r) => r.method === 'POST').length;
    assert.equal(posts - postsBefore, 3, 'one create per distinct event');
    assert.ok(outcomes.includes('folded'), 'the repeats waiting behind the first were folded');
    for (let i = 0; i < 5; i++) events.record({ pod: web, ...pulled });
    await events.idle(5000);
    assert.equal(
      api.events().find((e) => e.message === pulled.message && e.involvedObject.name === 'web-0')?.count,
      25,
    );
    assert.equal(api.requests.filter((r) => r.method === 'POST').length, posts, 'later repeats patch the count');
    events.stop();
  });

  it('creates the Event again, with the whole count, once the API server has expired it', async () => {
    const { events } = recorder();
    events.record({ pod: web, ...pulled });
    await events.idle(5000);
    api.expireEvents();
    events.record({ pod: web, ...pulled });
    await events.idle(5000);
    assert.deepEqual(
      api.events().map((e) => e.count),
      [2],
    );
    events.stop();
  });

  it('never waits on an API server that hangs: returns at once, the queue is bounded, drops counted', async () => {
    api.hangEvents = true;
    const { events, outcomes } = recorder({ maxPending: 8, requestTimeoutMs: 300 });
    const started = performance.now();
    for (let i = 0; i < 100; i++) events.record({ pod: { ...web, name: `web-${i}`, uid: `u-${i}` }, ...pulled });
    const ms = performance.now() - started;
    assert.ok(ms < 50, `100 records took ${ms.toFixed(1)} ms`);
    assert.ok(outcomes.filter((o) => o === 'dropped').length >= 100 - 8 - 1, 'beyond the queue bound: dropped');
    await events.idle(10_000);
    assert.equal(api.events().length, 0);
    events.stop();
  });

  it('records nothing while turned off (events: false)', async () => {
    let on = false;
    const { events } = recorder({ enabled: () => on });
    const before = api.requests.length;
    events.record({ pod: web, ...pulled });
    await events.idle(1000);
    assert.equal(api.requests.length, before);
    on = true;
    events.record({ pod: web, ...pulled });
    await events.idle(5000);
    assert.equal(api.events().length, 1);
    events.stop();
  });
});
