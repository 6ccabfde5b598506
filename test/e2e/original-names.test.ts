// End to end on real containerd and registries: an image pulled through the shim keeps the name
// the caller asked for beside the registry's, and a node finds the images it has by any of
// those names while every registry is down or hanging.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { startContainerd, type TestContainerd } from '../support/containerd.js';
import { CriClient, type CriImage } from '../support/cri-client.js';
import { buildImage, pushImage } from '../support/image.js';
import { freePort, rawServer, tempDir } from '../support/procs.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startShim, type TestShim } from '../support/shim.js';

const tmp = tempDir('names');
let containerd: TestContainerd;
let offline: TestRegistry;
let mirror: TestRegistry;
let direct: CriClient;
const digests: Record<string, string> = {};
const ids: Record<string, string> = {};
let n = 0;
const running: { shim: TestShim; cri: CriClient }[] = [];

/** Builds an image and pushes it to `registry` as `repo:tag`; remembers its digest and ID under `key`. */
async function publish(registry: TestRegistry, key: string, repo: string, tag: string): Promise<void> {
  const layout = join(tmp.path, 'images', key);
  ids[key] = buildImage(layout, `image ${key}`, tag).imageId;
  digests[key] = await pushImage(layout, tag, `${registry.host}/${repo}:${tag}`, registry.creds);
}

before(async () => {
  offline = await startRegistry(join(tmp.path, 'offline'), 'htpasswd', { user: 'olive', password: 'olive-pw' });
  mirror = await startRegistry(join(tmp.path, 'mirror'), 'none');
  await publish(offline, 'busybox', 'library/busybox', '1.36');
  await publish(offline, 'app', 'team/app', '2.0');
  await publish(offline, 'mover1', 'library/mover', 'v1');
  await publish(mirror, 'other', 'library/other', 'v1');
  containerd = await startContainerd(join(tmp.path, 'containerd'));
  containerd.allowHttpRegistry(offline.host);
  containerd.allowHttpRegistry(mirror.host);
  direct = new CriClient(containerd.socket);
});

after(async () => {
  direct?.close();
  await containerd?.stop();
  await offline?.stop();
  await mirror?.stop();
  tmp.remove();
});

beforeEach(async () => {
  for (const img of (await direct.listImages()).images) await direct.removeImage(img.id);
});

afterEach(async () => {
  for (const { shim, cri } of running.splice(0)) {
    cri.close();
    assert.ok(!shim.output().includes(offline.password), 'no password in the output');
    if (process.env.SHIM_LOG) console.log(shim.output());
    await shim.stop();
  }
});

function config(dir: string, extra: string[] = [], registries = [`http://${offline.host}`]): string {
  const [first, ...rest] = registries;
  return [
    `shim: ${join(dir, 'shim.sock')}`,
    `cri: ${containerd.socket}`,
    `address: ${first}`,
    `auth: olive:${offline.password}`,
    'fallback: false',
    'debug: true',
    ...(rest.length ? ['registries:', ...rest.map((r) => `  - { address: ${r}, priority: 5000 }`)] : []),
    ...extra,
  ].join('\n');
}

async function shimWith(extra: string[] = [], registries?: string[]): Promise<{ shim: TestShim; cri: CriClient }> {
  const dir = join(tmp.path, `shim-${++n}`);
  mkdirSync(dir, { recursive: true });
  const shim = await startShim(dir, config(dir, extra, registries));
  const cri = new CriClient(shim.socket);
  running.push({ shim, cri });
  return { shim, cri };
}

/** The image as containerd itself answers for `name` (no shim in between). */
async function onNode(name: string): Promise<CriImage | null> {
  return (await direct.imageStatus(name)).image;
}

const names = (image: CriImage | null) => [...(image?.repo_tags ?? []), ...(image?.repo_digests ?? [])].sort();

describe('images keep the names pods asked for', () => {
  it('a rewritten pull is known by the registry name and the name asked for, one image ID', async () => {
    const { cri, shim } = await shimWith([`metricsAddress: 127.0.0.1:${await freePort()}`]);
    const { image_ref } = await cri.pullImage('busybox:1.36');
    assert.equal(image_ref, ids.busybox);
    const image = await onNode('busybox:1.36');
    assert.equal(image?.id, ids.busybox, 'containerd answers for the short name by itself');
    assert.deepEqual(
      names(image),
      [
        `${offline.host}/library/busybox:1.36`,
        `${offline.host}/library/busybox@${digests.busybox}`,
        'docker.io/library/busybox:1.36',
        `docker.io/library/busybox@${digests.busybox}`,
      ].sort(),
    );
    const listed = (await cri.listImages()).images;
    assert.equal(listed.length, 1, 'one image, both names');
    assert.ok(listed[0]!.repo_tags.includes('docker.io/library/busybox:1.36'), 'ListImages through the shim');
    const address = /metricsAddress: (\S+)/.exec(readFileSync(shim.configFile, 'utf8'))![1];
    const metrics = await (await fetch(`http://${address}/metrics`)).text();
    assert.match(metrics, /image_cri_shim_original_names_total\{outcome="named"\} 1/);
    assert.match(metrics, /image_cri_shim_original_names_total\{outcome="failed"\} 0/);
  });

  it('a fully qualified name keeps its host', async () => {
    const { cri } = await shimWith();
    await cri.pullImage('quay.io/team/app:2.0');
    const image = await onNode('quay.io/team/app:2.0');
    assert.equal(image?.id, ids.app);
    assert.ok(image!.repo_tags.includes('quay.io/team/app:2.0'), names(image).join(' '));
    assert.ok(image!.repo_digests.includes(`quay.io/team/app@${digests.app}`));
  });

  it('a digest pull gets the original repo digest and no tag', async () => {
    const { cri } = await shimWith();
    await cri.pullImage(`busybox@${digests.busybox}`);
    const image = await onNode(`busybox@${digests.busybox}`);
    assert.equal(image?.id, ids.busybox);
    assert.ok(image!.repo_digests.includes(`docker.io/library/busybox@${digests.busybox}`), names(image).join(' '));
    assert.ok(!image!.repo_tags.some((t) => t.startsWith('docker.io/')), 'no tag the caller did not ask for');
  });

  it('a tag pulled in place of a pinned digest no registry has puts that digest on no name', async () => {
    const { cri, shim } = await shimWith();
    const pinned = `sha256:${'e'.repeat(64)}`;
    const { image_ref } = await cri.pullImage(`busybox:1.36@${pinned}`);
    assert.equal(image_ref, ids.busybox, 'the digest fallback pulled the tag, as the Go shim does');
    await shim.waitForLog('which does not have that digest');
    const image = await onNode(image_ref);
    assert.ok(!names(image).some((name) => name.includes(pinned)), names(image).join(' '));
    assert.ok(!names(image).some((name) => name.startsWith('docker.io/')), names(image).join(' '));
  });

  it('10 concurrent pulls of one name end with one name and no error', async () => {
    const { cri, shim } = await shimWith();
    const refs = await Promise.all(Array.from({ length: 10 }, () => cri.pullImage('busybox:1.36')));
    assert.deepEqual(new Set(refs.map((r) => r.image_ref)), new Set([ids.busybox]));
    const listed = (await direct.listImages()).images;
    assert.equal(listed.length, 1);
    assert.equal(listed[0]!.repo_tags.filter((t) => t === 'docker.io/library/busybox:1.36').length, 1);
    assert.doesNotMatch(shim.output(), /original names: could not/);
  });

  it('a new image behind the same tag moves the name', async () => {
    const { cri } = await shimWith(['cache: { imageCacheSize: -1 }']);
    await cri.pullImage('mover:v1');
    assert.equal((await onNode('mover:v1'))?.id, ids.mover1);
    await publish(offline, 'mover2', 'library/mover', 'v1');
    await cri.pullImage('mover:v1');
    assert.equal((await onNode('mover:v1'))?.id, ids.mover2, 'the name follows the tag');
    const old = await onNode(ids.mover1!);
    assert.ok(old, 'the old image is still on the node');
    assert.ok(!old.repo_tags.includes('docker.io/library/mover:v1'), `no stale alias: ${names(old).join(' ')}`);
  });

  it('RemoveImage by the short name leaves no name behind', async () => {
    const { cri } = await shimWith();
    await cri.pullImage('busybox:1.36');
    await cri.removeImage('busybox:1.36');
    assert.deepEqual((await direct.listImages()).images, []);
  });

  it('originalNames: false keeps the registry names only, and a reload turns it back on', async () => {
    const { cri, shim } = await shimWith(['originalNames: false']);
    await cri.pullImage('busybox:1.36');
    assert.deepEqual(names(await onNode(ids.busybox!)), [
      `${offline.host}/library/busybox:1.36`,
      `${offline.host}/library/busybox@${digests.busybox}`,
    ]);
    assert.equal(await onNode('busybox:1.36'), null, 'containerd does not know the short name');
    assert.equal((await cri.imageStatus('busybox:1.36')).image?.id, ids.busybox, 'the shim finds it on the node');
    writeFileSync(shim.configFile, readFileSync(shim.configFile, 'utf8').replace('originalNames: false', ''));
    const from = shim.output().length;
    process.kill(shim.proc.pid, 'SIGHUP');
    await shim.waitForLog('reloaded shim auth configuration from', 15_000, from);
    await cri.pullImage('quay.io/team/app:2.0');
    assert.equal((await onNode('quay.io/team/app:2.0'))?.id, ids.app);
  });

  it('originalNames: only leaves the names the caller asked for and no registry name, pull after pull', async () => {
    const { cri } = await shimWith(['originalNames: only']);
    for (let i = 0; i < 2; i++) {
      assert.equal((await cri.pullImage('busybox:1.36')).image_ref, ids.busybox);
      assert.deepEqual(names(await onNode(ids.busybox!)), [
        'docker.io/library/busybox:1.36',
        `docker.io/library/busybox@${digests.busybox}`,
      ]);
    }
    assert.deepEqual(
      (await cri.listImages()).images.flatMap((i) => i.repo_tags),
      ['docker.io/library/busybox:1.36'],
    );
    await cri.removeImage('busybox:1.36');
    assert.deepEqual((await direct.listImages()).images, []);
  });

  it('names only pulls it rewrote: an image pulled from its own registry keeps its one name', async () => {
    const { cri } = await shimWith([], [`http://${offline.host}`, `http://${mirror.host}`]);
    await cri.pullImage(`${mirror.host}/library/other:v1`);
    assert.deepEqual(names(await onNode(ids.other!)), [
      `${mirror.host}/library/other:v1`,
      `${mirror.host}/library/other@${digests.other}`,
    ]);
  });
});

describe('a node starts pods from the images it has while every registry is down', () => {
  it('ImageStatus by the short and the fully qualified name answers from the node within 500 ms', async () => {
    // Pulled with original names, and without (as the Go shim or an older shim left them).
    let { cri } = await shimWith();
    await cri.pullImage('busybox:1.36');
    ({ cri } = await shimWith(['originalNames: false']));
    await cri.pullImage('quay.io/team/app:2.0');
    for (const r of running.splice(0)) {
      r.cri.close();
      await r.shim.stop();
    }
    // Every registry gone; at the top, one that accepts connections and never answers.
    await offline.stop();
    await mirror.stop();
    const hang = await rawServer(() => {});
    try {
      const { cri: restarted, shim } = await shimWith(
        ['probeTimeout: 3s'],
        [`http://${offline.host}`, `http://${hang.host}`],
      );
      for (const [asked, id] of [
        ['busybox:1.36', ids.busybox],
        ['docker.io/library/busybox:1.36', ids.busybox],
        ['quay.io/team/app:2.0', ids.app],
        ['nothere:v1', undefined],
      ] as const) {
        const started = performance.now();
        const image = (await restarted.imageStatus(asked)).image;
        const ms = performance.now() - started;
        assert.equal(image?.id ?? undefined, id, asked);
        if (id) assert.ok(ms < 500, `${asked} answered in ${ms.toFixed(0)} ms`);
      }
      assert.doesNotMatch(shim.output(), /rewrite skipped: failed to fetch manifest for (busybox|quay)/);
    } finally {
      await hang.close();
      await offline.restart();
      await mirror.restart();
    }
  });
});
