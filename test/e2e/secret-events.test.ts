// End to end: registry credentials from a kubernetes.io/dockerconfigjson Secret, and Events
// telling each pod where its image came from. The built CLI, real containerd, a real
// password-protected registry, crictl v1.26.1 and the test API server.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { startContainerd, type TestContainerd } from '../support/containerd.js';
import { CriClient } from '../support/cri-client.js';
import { crictlOk } from '../support/crictl.js';
import { buildImage, pushImage } from '../support/image.js';
import { FakeKubeApi, type StoredEvent } from '../support/kube-api.js';
import { startProc, tempDir, waitFor } from '../support/procs.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { CLI, startShim, type TestShim } from '../support/shim.js';

const tmp = tempDir('secret-events');
let containerd: TestContainerd;
/** The offline registry: password-protected, its credentials only in the Secret. */
let offline: TestRegistry;
/** Above it in priority, without the image. */
let upper: TestRegistry;
let api: FakeKubeApi;
let direct: CriClient;
let appId: string;
const SECRET = 'image-cri-shim-auth';
const FIRST_PASSWORD = 'rita-first-secret-pass';
const SECOND_PASSWORD = 'rita-rotated-secret-pass';
let n = 0;
const running: TestShim[] = [];

before(async () => {
  containerd = await startContainerd(join(tmp.path, 'containerd'));
  offline = await startRegistry(join(tmp.path, 'offline'), 'htpasswd', { user: 'rita', password: FIRST_PASSWORD });
  upper = await startRegistry(join(tmp.path, 'upper'), 'none');
  for (const r of [offline, upper]) containerd.allowHttpRegistry(r.host);
  const layout = join(tmp.path, 'images', 'app');
  appId = buildImage(layout, 'app from the password-protected registry', 'v1').imageId;
  await pushImage(layout, 'v1', `${offline.host}/library/app:v1`, offline.creds);
  mkdirSync(join(tmp.path, 'kube'));
  api = await FakeKubeApi.start(join(tmp.path, 'kube'));
  direct = new CriClient(containerd.socket);
});

after(async () => {
  direct?.close();
  await api?.stop();
  await upper?.stop();
  await offline?.stop();
  await containerd?.stop();
  tmp.remove();
});

afterEach(async () => {
  api.hangEvents = false;
  for (const shim of running.splice(0)) {
    for (const password of [FIRST_PASSWORD, SECOND_PASSWORD])
      assert.ok(!shim.output().includes(password), 'a password reached the shim output');
    await shim.stop();
  }
});

/** What `kubectl create secret docker-registry --docker-server=http://HOST …` stores. */
function dockerConfigJson(host: string, user: string, password: string): Record<string, string> {
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  return { '.dockerconfigjson': JSON.stringify({ auths: { [`http://${host}`]: { username: user, password, auth } } }) };
}

function config(dir: string, extra = ''): string {
  return `shim: ${join(dir, 'shim.sock')}
cri: ${containerd.socket}
address: http://${offline.host}
probeTimeout: 1s
fallback: false
registries:
  - address: http://${upper.host}
    priority: 2000
${extra}`;
}

async function start(extra = ''): Promise<{ shim: TestShim; cri: CriClient; dir: string }> {
  const dir = join(tmp.path, `shim-${++n}`);
  mkdirSync(dir);
  const shim = await startShim(dir, config(dir, extra), {
    ...process.env,
    KUBECONFIG: api.kubeconfig,
    HOME: dir,
    NODE_NAME: 'node-7',
  });
  running.push(shim);
  const cri = new CriClient(shim.socket);
  return { shim, cri, dir };
}

async function removeAll(): Promise<void> {
  for (const img of (await direct.listImages()).images) await direct.removeImage(img.id);
}

function noPasswordIn(file: string): void {
  const text = readFileSync(file, 'utf8');
  for (const password of [FIRST_PASSWORD, SECOND_PASSWORD])
    assert.ok(!text.includes(password), `${file} holds a password`);
}

function eventsFor(pod: string): StoredEvent[] {
  return api.events().filter((e) => e.involvedObject.name === pod);
}

describe('registry credentials from a Secret', () => {
  it('pulls with credentials only in the Secret, follows a rotated password live, never writes it', async () => {
    api.putSecret(SECRET, dockerConfigJson(offline.host, 'rita', FIRST_PASSWORD));
    const { shim, cri } = await start('reloadInterval: 1h\n');
    await shim.waitForLog('secret: credentials for 1 registries updated');
    await removeAll();
    assert.equal((await cri.pullImage('app:v1')).image_ref, appId, 'pulled from the password-protected registry');
    noPasswordIn(shim.configFile);

    // The registry's password changes, then the Secret: the next pull uses the new one.
    await offline.setPassword(SECOND_PASSWORD);
    await removeAll();
    await assert.rejects(cri.pullImage('app:v1'), 'the old password no longer works');
    const from = shim.output().length;
    const t0 = Date.now();
    api.putSecret(SECRET, dockerConfigJson(offline.host, 'rita', SECOND_PASSWORD));
    await shim.waitForLog('secret: credentials for 1 registries updated', 3000, from);
    const appliedMs = Date.now() - t0;
    assert.ok(appliedMs < 1000, `the Secret change applied in ${appliedMs} ms`);
    assert.equal((await cri.pullImage('app:v1')).image_ref, appId, 'pulled with the rotated password');
    assert.equal(shim.proc.child.exitCode, null, 'no restart');
    noPasswordIn(shim.configFile);
    process.stdout.write(`# secret rotation applied in ${appliedMs} ms\n`);

    // A malformed Secret is a warning; the last good credentials stay.
    const before = shim.output().length;
    api.putSecret(SECRET, { '.dockerconfigjson': `{"auths": {"${offline.host}": {"auth": "${SECOND_PASSWORD}!"}}}` });
    await shim.waitForLog(
      /secret kube-system\/image-cri-shim-auth: auths\[.*\]\.auth: not base64; keeping the last good credentials/,
      3000,
      before,
    );
    await removeAll();
    assert.equal((await cri.pullImage('app:v1')).image_ref, appId);
    cri.close();
  });

  it('--dry-run says whether the Secret is there and which registries it serves, never the credentials', async () => {
    api.putSecret(SECRET, dockerConfigJson(offline.host, 'rita', offline.password));
    const dir = join(tmp.path, `dry-${++n}`);
    mkdirSync(dir);
    const file = join(dir, 'image-cri-shim.yaml');
    writeFileSync(file, config(dir), { mode: 0o600 });
    const proc = startProc(process.execPath, [CLI, '--dry-run', '-f', file], {
      env: { ...process.env, KUBECONFIG: api.kubeconfig, HOME: dir },
    });
    assert.equal(await proc.exited(), 0, proc.output());
    const out = proc.output();
    assert.match(
      out,
      new RegExp(
        `secret kube-system/image-cri-shim-auth\\s+ok\\s+present, credentials for 1 registries; ` +
          `used for ${offline.host}`,
      ),
    );
    assert.match(out, /credentials from the Secret accepted/);
    for (const password of [FIRST_PASSWORD, SECOND_PASSWORD]) assert.ok(!out.includes(password));
  });
});

describe('Events telling each pod where its image came from', () => {
  before(() => api.putSecret(SECRET, dockerConfigJson(offline.host, 'rita', offline.password)));

  it('a pull by crictl for a pod posts one Event naming the registry, as kubelet records its own', async () => {
    const { shim, dir, cri } = await start();
    const podConfig = join(dir, 'pod.json');
    writeFileSync(podConfig, JSON.stringify({ metadata: { name: 'web-0', namespace: 'shop', uid: 'uid-web-0' } }));
    await removeAll();
    await crictlOk(shim.socket, 'pull', '--pod-config', podConfig, 'app:v1');
    await waitFor('the Event', () => eventsFor('web-0').length > 0, 5000);
    await new Promise((r) => setTimeout(r, 300));
    const [event, ...more] = eventsFor('web-0');
    assert.equal(more.length, 0, 'one Event');
    assert.equal(event!.reason, 'ImageRewritten');
    assert.equal(event!.type, 'Normal');
    assert.equal(
      event!.message,
      `Pulled app:v1 from ${offline.host}/library/app:v1 (priority 1000; above it: ${upper.host} not found)`,
    );
    assert.deepEqual(event!.involvedObject, {
      apiVersion: 'v1',
      kind: 'Pod',
      name: 'web-0',
      namespace: 'shop',
      uid: 'uid-web-0',
    });
    assert.equal(event!.metadata.namespace, 'shop');
    assert.deepEqual(event!.source, { component: 'image-cri-shim', host: 'node-7' });

    // A pull for no pod (crictl pull without --pod-config) has nobody to tell.
    const total = api.events().length;
    await crictlOk(shim.socket, 'pull', 'app:v1');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(api.events().length, total);
    cri.close();
  });

  it('20 identical pulls for one pod are one Event with count 20; a failed rewrite is a Warning', async () => {
    const { cri } = await start();
    const pod = { name: 'burst-0', namespace: 'shop', uid: 'uid-burst-0' };
    const postsBefore = api.requests.filter((r) => r.method === 'POST').length;
    for (let i = 0; i < 20; i++)
      assert.equal((await cri.pullImage('app:v1', undefined, {}, undefined, pod)).image_ref, appId);
    await waitFor('count 20', () => eventsFor('burst-0')[0]?.count === 20, 5000);
    assert.equal(eventsFor('burst-0').length, 1);
    assert.equal(api.requests.filter((r) => r.method === 'POST').length - postsBefore, 1, 'one Event created');

    const lost = { name: 'lost-0', namespace: 'shop', uid: 'uid-lost-0' };
    await assert.rejects(cri.pullImage('nowhere:v1', undefined, {}, undefined, lost));
    await waitFor('the warning', () => eventsFor('lost-0').length === 1, 5000);
    const [warning] = eventsFor('lost-0');
    assert.equal(warning!.type, 'Warning');
    assert.equal(warning!.reason, 'ImageRewriteFailed');
    assert.equal(
      warning!.message,
      `No configured registry could serve nowhere:v1 (${upper.host} not found, ${offline.host} not found); ` +
        'the original was not tried (fallback is off)',
    );
    cri.close();
  });

  it('an API server that hangs does not slow pulls', async () => {
    const { cri } = await start();
    await removeAll();
    await cri.pullImage('app:v1');
    const timePulls = async (prefix: string) => {
      const ms: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        await cri.pullImage('app:v1', undefined, {}, undefined, {
          name: `${prefix}-${i}`,
          namespace: 'shop',
          uid: `${prefix}-${i}`,
        });
        ms.push(performance.now() - t0);
      }
      return ms.sort((a, b) => a - b);
    };
    const healthy = await timePulls('healthy');
    api.hangEvents = true;
    const hanging = await timePulls('hanging');
    const median = (ms: number[]) => ms[Math.floor(ms.length / 2)]!;
    process.stdout.write(
      `# pull median with a healthy API server ${median(healthy).toFixed(1)} ms, with one that hangs ` +
        `${median(hanging).toFixed(1)} ms (slowest ${hanging.at(-1)!.toFixed(1)} ms)\n`,
    );
    assert.ok(median(hanging) < median(healthy) * 1.5 + 50, 'no slower with the API server hanging');
    assert.ok(hanging.at(-1)! < 2000, 'no pull waited for the API server (its requests time out after 5 s)');
    assert.equal(api.events().filter((e) => e.involvedObject.name.startsWith('hanging-')).length, 0);
    cri.close();
  });
});
