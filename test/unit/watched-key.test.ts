// The follower of one key of a ConfigMap or Secret, with the real client against the test API server.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectCluster, findCluster } from '../../src/kube/cluster.js';
import { WatchedKey } from '../../src/kube/watched-key.js';
import { setLogSink } from '../../src/log.js';
import { FakeKubeApi } from '../support/kube-api.js';
import { tempDir, waitFor } from '../support/procs.js';
import { selfSignedCert } from '../support/tls.js';

let api: FakeKubeApi;
const dir = tempDir('kube');

before(async () => {
  api = await FakeKubeApi.start(dir.path);
});
after(async () => {
  await api.stop();
  dir.remove();
});

async function follow(name: string, kubeconfig = api.kubeconfig) {
  const seen: (string | undefined)[] = [];
  const env = { KUBECONFIG: kubeconfig, HOME: dir.path };
  const client = await connectCluster(findCluster(env), env);
  const source = new WatchedKey(client, {
    resource: 'configmaps',
    namespace: 'kube-system',
    name,
    key: 'registries.yaml',
    pollIntervalMs: () => 300,
    onChange: async (data) => {
      seen.push(data);
    },
  });
  return { source, seen, client };
}

describe('WatchedKey (ConfigMap)', () => {
  it('reads the current content with one LIST, undefined when missing', async () => {
    const { source } = await follow('cm-missing');
    assert.equal(await source.current(), undefined);
    api.put('cm-read', { 'registries.yaml': 'debug: true\n' });
    const other = await follow('cm-read');
    assert.equal(await other.source.current(), 'debug: true\n');
    const lists = api.requests.filter(
      (r) => r.url.includes('fieldSelector=metadata.name%3Dcm-read') && !r.url.includes('watch=true'),
    );
    assert.equal(lists.length, 1);
  });

  it('follows changes, deletion, dropped connections and expired versions through the watch', async () => {
    const name = 'cm-follow';
    api.put(name, { 'registries.yaml': 'v: 1\n' });
    const { source, seen } = await follow(name);
    source.seen(await source.current());
    const running = source.run();
    try {
      await waitFor('watch established', () => source.healthy());

      api.put(name, { 'registries.yaml': 'v: 2\n' });
      await waitFor('v2', () => seen.at(-1) === 'v: 2\n', 3000);
      api.put(name, { other: 'x', 'registries.yaml': 'v: 2\n' });
      api.delete(name);
      await waitFor('deletion', () => seen.length === 2 && seen[1] === undefined, 3000);
      assert.deepEqual(seen, ['v: 2\n', undefined], 'unchanged key content is not delivered twice');

      // A dropped connection resumes from the last resourceVersion, without a LIST.
      const lists = () =>
        api.requests.filter((r) => r.url.includes(`metadata.name%3D${name}`) && !r.url.includes('watch=true')).length;
      const listsBefore = lists();
      api.dropConnections();
      await waitFor('rewatch', () => source.healthy() && api.requests.at(-1)!.url.includes('watch=true'), 5000);
      assert.equal(lists(), listsBefore);
      api.put(name, { 'registries.yaml': 'v: 3\n' });
      await waitFor('v3', () => seen.at(-1) === 'v: 3\n', 3000);

      // History compacted while disconnected: 410 Gone, then a fresh LIST.
      api.compact();
      api.dropConnections();
      api.put(name, { 'registries.yaml': 'v: 4\n' });
      await waitFor('v4 after relist', () => seen.at(-1) === 'v: 4\n', 5000);
      assert.ok(lists() > listsBefore, 're-listed after 410');

      // API server down: retries; back up: picks up what changed meanwhile.
      await api.stop();
      await new Promise((r) => setTimeout(r, 800));
      api.put(name, { 'registries.yaml': 'v: 5\n' });
      await api.restart();
      await waitFor('v5 after restart', () => seen.at(-1) === 'v: 5\n', 5000);

      // Steady state: no requests at all while nothing changes.
      await waitFor('watch established', () => source.healthy());
      const quietFrom = api.requests.length;
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(api.requests.length, quietFrom, 'a healthy watch costs no further requests');
    } finally {
      source.stop();
      await running;
    }
  });

  // The Go shim's RBAC grants get only (before: every LIST failed 403, and changes never came).
  it(
    'with get but not list/watch allowed, reads the ConfigMap with a GET every poll interval, warning ' + 'once',
    async () => {
      const name = 'cm-get-only';
      api.forbidden.add('list');
      api.forbidden.add('watch');
      const lines: string[] = [];
      setLogSink((l) => lines.push(l));
      const { source, seen } = await follow(name);
      try {
        assert.equal(await source.current(), undefined, 'missing: a GET answered 404');
        api.put(name, { 'registries.yaml': 'g: 1\n' });
        const running = source.run();
        await waitFor('g1', () => seen.at(-1) === 'g: 1\n', 5000);
        api.put(name, { 'registries.yaml': 'g: 2\n' });
        await waitFor('g2 within a poll interval', () => seen.at(-1) === 'g: 2\n', 3000);
        source.stop();
        await running;
      } finally {
        api.forbidden.clear();
        setLogSink((l) => process.stderr.write(`${l}\n`));
      }
      assert.equal(
        lines.filter((l) => l.includes('may get kube-system/cm-get-only but not list or watch it')).length,
        1,
        lines.join('\n'),
      );
      assert.ok(
        api.requests.every((r) => !(r.url.includes('watch=true') && r.url.includes('cm-get-only'))),
        'no watch attempted once refused',
      );
    },
  );

  it("verifies the API server's certificate against the kubeconfig's certificate-authority", async () => {
    api.put('cm-verified', { 'registries.yaml': 'v: 1\n' });
    const read = async (kubeconfig: string) => {
      const { source, client } = await follow('cm-verified', kubeconfig);
      try {
        return await source.current();
      } finally {
        await client.close();
      }
    };
    assert.equal(await read(api.verifiedKubeconfig), 'v: 1\n');
    const other = selfSignedCert(dir.path, 'other-ca', '127.0.0.1', true);
    const wrongCa = api.kubeconfigWith(
      `    token: ${api.token}\n`,
      'wrong-ca',
      `certificate-authority: ${other.certFile}`,
    );
    await assert.rejects(read(wrongCa), /self[- ]signed|certificate/i);
  });

  it('takes its credentials from an exec plugin (client.authentication.k8s.io ExecCredential)', async () => {
    const credential = JSON.stringify({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: api.token },
    });
    const kubeconfig = api.kubeconfigWith(
      `    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: ["-c", ` +
        `${JSON.stringify(`echo '${credential}'`)}]\n`,
      'exec-kubeconfig',
    );
    api.put('cm-exec', { 'registries.yaml': 'e: 1\n' });
    const { source, client } = await follow('cm-exec', kubeconfig);
    assert.equal(await source.current(), 'e: 1\n');
    await client.close();
  });
});

describe('WatchedKey (Secret)', () => {
  it('delivers a Secret key decoded, follows its changes, and never takes a ConfigMap of the same name', async () => {
    const name = 'creds';
    api.putSecret(name, { '.dockerconfigjson': '{"auths":{"a.io":{"auth":"djE="}}}' });
    api.put(name, { '.dockerconfigjson': 'a ConfigMap, not the Secret' });
    const seen: (string | undefined)[] = [];
    const env = { KUBECONFIG: api.kubeconfig, HOME: dir.path };
    const client = await connectCluster(findCluster(env), env);
    const source = new WatchedKey(client, {
      resource: 'secrets',
      namespace: 'kube-system',
      name,
      key: '.dockerconfigjson',
      pollIntervalMs: () => 300,
      onChange: async (data) => {
        seen.push(data);
      },
    });
    assert.equal(await source.current(), '{"auths":{"a.io":{"auth":"djE="}}}');
    source.seen(await source.current());
    const running = source.run();
    try {
      await waitFor('watch established', () => source.healthy());
      assert.ok(api.requests.some((r) => r.url.startsWith('/api/v1/namespaces/kube-system/secrets?')));
      api.put(name, { '.dockerconfigjson': 'the ConfigMap changed' });
      api.putSecret(name, { '.dockerconfigjson': '{"auths":{}}' });
      await waitFor('rotated', () => seen.at(-1) === '{"auths":{}}', 3000);
      api.delete(name, 'secrets');
      await waitFor('deleted', () => seen.at(-1) === undefined && seen.length === 2, 3000);
      assert.deepEqual(seen, ['{"auths":{}}', undefined]);
    } finally {
      source.stop();
      await running;
      await client.close();
    }
  });

  it('asks no more than every few minutes while RBAC allows not even a GET', async () => {
    const env = { KUBECONFIG: api.kubeconfig, HOME: dir.path };
    const client = await connectCluster(findCluster(env), env);
    const source = new WatchedKey(client, {
      resource: 'secrets',
      namespace: 'kube-system',
      name: 'not-granted',
      key: '.dockerconfigjson',
      pollIntervalMs: () => 300,
      onChange: async () => {},
    });
    const asked = () => api.requests.filter((r) => r.url.includes('not-granted')).length;
    api.forbidden.add('get').add('list').add('watch');
    const running = source.run();
    try {
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(asked(), 2, 'one LIST and one GET, both refused, then a long wait');
    } finally {
      api.forbidden.clear();
      source.stop();
      await running;
      await client.close();
    }
  });
});
