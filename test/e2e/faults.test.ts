// Fault tests: runtime restarts, misbehaving registries, the token server down and the config
// file replaced by garbage, each under load. The shim keeps serving, answers within the
// deadline, recovers when the fault clears, and leaks no sockets.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { CriClient } from '../support/cri-client.js';
import { createWorld, type World } from '../support/fixture.js';
import { FlakyRegistry, LAG_MS, type FlakyMode } from '../support/flaky-registry.js';
import { startShim, type TestShim } from '../support/shim.js';

let w: World;
let direct: CriClient;
let flaky: FlakyRegistry;
let n = 0;
const running: { shim: TestShim; cri: CriClient }[] = [];

before(async () => {
  w = await createWorld();
  direct = new CriClient(w.containerd.socket);
  flaky = await FlakyRegistry.start(w.b.host);
  w.containerd.allowHttpRegistry(flaky.host);
});
after(async () => {
  direct?.close();
  await flaky?.stop();
  await w?.teardown();
});
afterEach(async () => {
  for (const { shim, cri } of running.splice(0)) {
    cri.close();
    await shim.stop();
  }
});

const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

async function start(registries: string, extra = ''): Promise<{ shim: TestShim; cri: CriClient }> {
  const dir = join(w.dir, `faults-${++n}`);
  mkdirSync(dir);
  const shim = await startShim(
    dir,
    `shim: ${join(dir, 'shim.sock')}\ncri: ${w.containerd.socket}\naddress: http://${w.a.host}\nauth: ` +
      `${w.a.creds}\nfallback: false\nprobeTimeout: 1s\nreloadInterval: 300ms\ncache:\n  imageCacheTTL: ` +
      `1500ms\nregistries:\n${registries}${extra}`,
    { ...process.env, HOME: dir, KUBECONFIG: '' },
  );
  const cri = new CriClient(shim.socket);
  running.push({ shim, cri });
  return { shim, cri };
}

async function clearImages(): Promise<void> {
  for (const img of (await direct.listImages()).images) await direct.removeImage(img.id);
}

/** `count` concurrent pulls; every one must succeed, each within `limitMs`. */
async function pullBurst(cri: CriClient, count: number, limitMs: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const started = Date.now();
      const { image_ref } = await cri.pullImage('app:v1', undefined, {}, limitMs + 5000);
      assert.ok(Date.now() - started < limitMs, `a pull took ${Date.now() - started} ms`);
      return image_ref;
    }),
  );
}

describe('registry faults under load', () => {
  const modes: FlakyMode[] = ['error500', 'close', 'slow', 'badChallenge'];
  it(`falls back while the top registry misbehaves (${modes.join(', ')}) and returns to it after`, async () => {
    const { shim, cri } = await start(
      `  - address: http://${flaky.host}\n    auth: ${w.b.creds}\n    priority: 3000\n`,
    );
    flaky.mode = 'ok';
    await clearImages();
    assert.deepEqual(
      new Set(await pullBurst(cri, 10, 5000)),
      new Set([w.appId.b]),
      'healthy: served by B through the front',
    );
    const fdsBefore = openFds(shim.proc.pid);
    for (const mode of modes) {
      flaky.mode = mode;
      await new Promise((r) => setTimeout(r, 1600)); // the healthy decision expires
      await clearImages();
      const refs = await pullBurst(cri, 20, 3000);
      assert.deepEqual(new Set(refs), new Set([w.appId.a]), `${mode}: served by A`);
      flaky.mode = 'ok';
      await new Promise((r) => setTimeout(r, 1600)); // the transient decision expires
      await clearImages();
      assert.deepEqual(new Set(await pullBurst(cri, 5, 5000)), new Set([w.appId.b]), `${mode} cleared: back to B`);
    }
    assert.ok(openFds(shim.proc.pid) <= fdsBefore + 8, `fds ${fdsBefore} → ${openFds(shim.proc.pid)}`);
    assert.equal(shim.proc.child.exitCode, null);
  });

  it('falls back while the token server is down, and recovers when it returns', async () => {
    const { cri } = await start(`  - address: http://${w.c.host}\n    auth: ${w.c.creds}\n    priority: 3000\n`);
    await clearImages();
    assert.equal((await cri.pullImage('app:v1')).image_ref, w.appId.c);
    await w.issuer.stop();
    try {
      await new Promise((r) => setTimeout(r, 1600));
      await clearImages();
      // The shim may still hold a valid token for its probe, but containerd cannot get one:
      // either way the pull must end at A.
      assert.deepEqual(new Set(await pullBurst(cri, 10, 5000)), new Set([w.appId.a]), 'token server down: A');
    } finally {
      await w.issuer.restart();
    }
    await new Promise((r) => setTimeout(r, 1600));
    await clearImages();
    assert.equal((await cri.pullImage('app:v1')).image_ref, w.appId.c, 'token server back: C');
  });

  it('in strict mode, pulls from a registry too busy to answer the probe in time rather than failing', async () => {
    // The only registry with only-c:v1 sits behind a front that holds every request longer
    // than the probe timeout: the shim cannot confirm the image, but the runtime can pull it.
    const busy = await FlakyRegistry.start(w.c.host);
    w.containerd.allowHttpRegistry(busy.host);
    try {
      busy.mode = 'lagging';
      const { shim, cri } = await start(
        `  - address: http://${busy.host}\n    auth: ${w.c.creds}\n    priority: 3000\n`,
      );
      await clearImages();
      const from = shim.output().length;
      const started = Date.now();
      const refs = await Promise.all(
        Array.from({ length: 5 }, () => cri.pullImage('only-c:v1', undefined, {}, 60_000)),
      );
      assert.deepEqual(new Set(refs.map((r) => r.image_ref)), new Set([w.onlyCId]));
      assert.ok(Date.now() - started > LAG_MS, 'the pull went through the lagging front');
      assert.doesNotMatch(shim.output().slice(from), /not found in any configured registry/);
    } finally {
      await busy.stop();
    }
  });
});

describe('runtime and config faults under load', () => {
  it('keeps answering while containerd is killed and restarted (UNAVAILABLE or its start-up error only)', async () => {
    const { shim, cri } = await start('');
    await cri.version();
    const fdsBefore = openFds(shim.proc.pid);
    let stop = false;
    const codes = new Map<string, number>();
    const worker = async () => {
      for (let i = 0; i < 20_000 && !stop; i++) {
        const started = Date.now();
        try {
          await (i % 2 ? cri.version(3000) : cri.imageStatus('app:v1'));
          codes.set('ok', (codes.get('ok') ?? 0) + 1);
        } catch (e) {
          const err = e as { code?: number; details?: string };
          // While its CRI plugin starts, containerd itself answers UNKNOWN "server is not
          // initialized yet": the runtime's own error, passed through.
          const code = err.code === 2 && /not initialized/.test(err.details ?? '') ? 'starting' : String(err.code);
          codes.set(code, (codes.get(code) ?? 0) + 1);
          assert.ok(Date.now() - started < 3500, 'a failing call answered within its deadline');
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    await new Promise((r) => setTimeout(r, 500));
    await w.containerd.kill9();
    await new Promise((r) => setTimeout(r, 1000));
    await w.containerd.start();
    await new Promise((r) => setTimeout(r, 1000));
    const okBefore = codes.get('ok') ?? 0;
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    await Promise.all(workers);
    assert.ok((codes.get('ok') ?? 0) > okBefore, 'serving again after the restart');
    assert.ok((codes.get('14') ?? 0) > 0, 'UNAVAILABLE while down');
    for (const code of codes.keys())
      assert.ok(['ok', '14', 'starting'].includes(code), `unexpected outcome ${code}: ${JSON.stringify([...codes])}`);
    assert.ok(openFds(shim.proc.pid) <= fdsBefore + 4, `fds ${fdsBefore} → ${openFds(shim.proc.pid)}`);
  });

  it('keeps the running config while the file is garbage, under load', async () => {
    const { shim, cri } = await start(`  - address: http://${w.b.host}\n    auth: ${w.b.creds}\n    priority: 3000\n`);
    const good = readFileSync(shim.configFile, 'utf8');
    await clearImages();
    assert.equal((await cri.pullImage('app:v1')).image_ref, w.appId.b);
    const from = shim.output().length;
    writeFileSync(shim.configFile, '\u0000\u0001 garbage: [ {{{ not yaml');
    await shim.waitForLog('keeping the running configuration', 3000, from);
    for (let round = 0; round < 3; round++) {
      await new Promise((r) => setTimeout(r, 600));
      await clearImages();
      assert.deepEqual(new Set(await pullBurst(cri, 10, 5000)), new Set([w.appId.b]), 'still the last good config');
    }
    writeFileSync(shim.configFile, good.replace('priority: 3000', 'priority: 10'));
    await shim.waitForLog('reloaded shim auth configuration from', 3000, from);
    await new Promise((r) => setTimeout(r, 100));
    await clearImages();
    assert.equal((await cri.pullImage('app:v1')).image_ref, w.appId.a, 'the repaired file applies');
  });
});
