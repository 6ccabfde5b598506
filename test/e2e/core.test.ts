// End to end: the built CLI between a CRI client and real containerd, with real registries.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { EXIT } from '../../src/errors.js';
import { CriClient } from '../support/cri-client.js';
import { createWorld, type World } from '../support/fixture.js';
import { startProc } from '../support/procs.js';
import { CLI, startShim, type TestShim } from '../support/shim.js';

let w: World;
let direct: CriClient;
let n = 0;
const running: { shim: TestShim; clients: CriClient[] }[] = [];

interface Reg {
  host: string;
  creds?: string | undefined;
  priority?: number;
  scheme?: string;
}

function yaml(w: World, dir: string, offline: Reg, registries: Reg[], extra = ''): string {
  const entry = (r: Reg) => `${r.scheme ?? 'http'}://${r.host}`;
  return [
    `shim: ${join(dir, 'shim.sock')}`,
    `cri: ${w.containerd.socket}`,
    `address: ${entry(offline)}`,
    offline.creds ? `auth: ${offline.creds}` : '',
    offline.priority !== undefined ? `offlinePriority: ${offline.priority}` : '',
    'probeTimeout: 1s',
    'debug: true',
    // Tests never let the runtime reach for an origin outside 127.0.0.1: fallback to the
    // original reference is switched on only where the original is local.
    /fallback:/.test(extra) ? '' : 'fallback: false',
    'registries:',
    ...registries.map((r) => {
      const auth = r.creds ? `    auth: ${r.creds}\n` : '';
      const priority = r.priority !== undefined ? `    priority: ${r.priority}` : '';
      return `  - address: ${entry(r)}\n${auth}${priority}`;
    }),
    extra,
  ].join('\n');
}

async function shimWith(config: (dir: string) => string): Promise<{ shim: TestShim; cri: CriClient; dir: string }> {
  const dir = join(w.dir, `shim-${++n}`);
  mkdirSync(dir, { recursive: true });
  const shim = await startShim(dir, config(dir));
  const cri = new CriClient(shim.socket);
  running.push({ shim, clients: [cri] });
  return { shim, cri, dir };
}

async function removeAllImages(): Promise<void> {
  for (const img of (await direct.listImages()).images) await direct.removeImage(img.id);
}

function assertNoSecrets(output: string): void {
  for (const secret of w.secrets) assert.ok(!output.includes(secret), `shim output contains a password`);
}

before(async () => {
  w = await createWorld();
  direct = new CriClient(w.containerd.socket);
});

after(async () => {
  direct?.close();
  await w?.teardown();
});

beforeEach(removeAllImages);

afterEach(async () => {
  for (const { shim, clients } of running.splice(0)) {
    for (const c of clients) c.close();
    assertNoSecrets(shim.output());
    if (process.env.SHIM_LOG) console.log(shim.output());
    await shim.stop();
  }
});

describe('image rewriting through the shim', () => {
  it('pulls from the highest-priority registry that has the image, injecting its credentials', async () => {
    const { cri, shim } = await shimWith((dir) =>
      yaml(w, dir, { host: w.a.host, creds: w.a.creds }, [
        { host: w.b.host, creds: w.b.creds, priority: 1200 },
        { host: w.c.host, creds: w.c.creds, priority: 800 },
      ]),
    );
    const res = await cri.pullImage('app:v1');
    assert.equal(res.image_ref, w.appId.b, 'image came from B (priority 1200)');
    const status = await cri.imageStatus('app:v1');
    assert.deepEqual(status.image?.repo_tags, [`${w.b.host}/library/app:v1`, 'docker.io/library/app:v1']);
    await shim.waitForLog(
      `priority match: image=app:v1 action=PullImage matched_registry=${w.b.host} priority=1200 ` +
        `result=${w.b.host}/library/app:v1`,
    );
  });

  it('skips a higher-priority registry that lacks the image', async () => {
    const { cri } = await shimWith((dir) =>
      yaml(w, dir, { host: w.a.host, creds: w.a.creds }, [
        { host: w.b.host, creds: w.b.creds, priority: 2000 },
        { host: w.c.host, creds: w.c.creds, priority: 800 },
      ]),
    );
    const res = await cri.pullImage('docker.io/library/only-c:v1');
    assert.equal(res.image_ref, w.onlyCId);
  });

  it('injects Bearer-token registry credentials: a pull with no auth succeeds from an auth-only registry', async () => {
    await assert.rejects(
      direct.pullImage(`${w.c.host}/library/only-c:v1`),
      'containerd alone cannot pull without credentials',
    );
    const { cri } = await shimWith((dir) => yaml(w, dir, { host: w.c.host, creds: w.c.creds }, []));
    const res = await cri.pullImage('only-c:v1');
    assert.equal(res.image_ref, w.onlyCId);
  });

  it("sends the caller's own credentials only to the registry they were given for", async () => {
    const { cri } = await shimWith((dir) => yaml(w, dir, { host: w.b.host, creds: w.b.creds }, []));
    // Credentials for docker.io: the pull rewritten to B carries B's configured ones instead.
    assert.equal((await cri.pullImage('app:v1', { username: 'bob', password: 'wrong-password' })).image_ref, w.appId.b);
    // Credentials for B itself (the image names B): they are the caller's to give, and they are wrong.
    await assert.rejects(
      cri.pullImage(`${w.b.host}/library/app:v1`, { username: 'bob', password: 'wrong-password' }),
      /401|unauthorized|failed/i,
    );
  });

  it("passes an image that no registry has through unchanged, returning the runtime's error", async () => {
    const { cri, shim } = await shimWith((dir) =>
      yaml(w, dir, { host: w.a.host, creds: w.a.creds }, [{ host: w.b.host, creds: w.b.creds }], 'fallback: true'),
    );
    const missing = `${w.downHost}/library/nowhere:v1`;
    await assert.rejects(cri.pullImage(missing), (e: Error & { details: string }) => {
      assert.match(e.details, new RegExp(`${w.downHost}/library/nowhere:v1`));
      return true;
    });
    assert.ok(!shim.output().includes('matched_registry'), 'no rewrite was logged');
  });

  it('keeps digests when rewriting', async () => {
    const { cri } = await shimWith((dir) =>
      yaml(w, dir, { host: w.a.host, creds: w.a.creds }, [{ host: w.b.host, creds: w.b.creds }]),
    );
    const res = await cri.pullImage(`quay.io/team/digested@${w.digested.digest}`);
    assert.equal(res.image_ref, w.digested.id);
    const status = await cri.imageStatus(`quay.io/team/digested@${w.digested.digest}`);
    assert.ok(status.image?.repo_digests.includes(`${w.b.host}/team/digested@${w.digested.digest}`));
  });

  it('answers ImageStatus and RemoveImage for the name the caller used and for image IDs', async () => {
    const { cri } = await shimWith((dir) => yaml(w, dir, { host: w.a.host, creds: w.a.creds }, []));
    assert.equal((await cri.imageStatus('app:v1')).image, null, 'not pulled yet');
    const { image_ref } = await cri.pullImage('app:v1');
    assert.equal((await cri.imageStatus('app:v1')).image?.id, image_ref);
    assert.equal((await cri.imageStatus(image_ref)).image?.id, image_ref, 'an image ID is asked as given');
    await cri.removeImage('app:v1');
    assert.equal((await direct.imageStatus(image_ref)).image, null, 'removed through the rewritten name');
  });

  it('falls back to the next available registry when the runtime cannot pull from the winner', async () => {
    // D answers the manifest probe but has lost a blob, so containerd's pull from D fails and
    // the shim must go on to A.
    const { cri, shim } = await shimWith((dir) =>
      yaml(w, dir, { host: w.a.host, creds: w.a.creds }, [{ host: w.d.host, priority: 5000 }]),
    );
    const res = await cri.pullImage('app:v1');
    assert.equal(res.image_ref, w.appId.a);
    await shim.waitForLog(new RegExp(`pull of ${w.d.host}/library/app:v1 failed .*trying ${w.a.host}/library/app:v1`));
  });

  it('with fallback off, refuses an image no configured registry has', async () => {
    const { cri } = await shimWith((dir) => yaml(w, dir, { host: w.a.host, creds: w.a.creds }, []));
    await assert.rejects(cri.pullImage('not-anywhere:v1'), (e: Error & { code: number; details: string }) => {
      assert.equal(e.code, 5);
      assert.match(e.details, /not found in any configured registry/);
      return true;
    });
  });
});

describe('registry faults', () => {
  it('a registry that is down or hangs delays a decision by at most the probe timeout', async () => {
    const { cri } = await shimWith((dir) =>
      yaml(w, dir, { host: w.a.host, creds: w.a.creds }, [
        { host: w.downHost, priority: 3000 },
        { host: w.hangHost, priority: 2000 },
        { host: w.garbageHost, priority: 1500 },
      ]),
    );
    const started = Date.now();
    const status = await cri.imageStatus('app:v1');
    const elapsed = Date.now() - started;
    assert.equal(status.image, null);
    // probeTimeout is 1s: the hanging registry costs one timeout, not one per registry.
    assert.ok(elapsed >= 900 && elapsed < 1900, `decision took ${elapsed}ms`);
    const res = await cri.pullImage('app:v1');
    assert.equal(res.image_ref, w.appId.a, 'the reachable registry won');
  });
});

describe('pass-through', () => {
  it('relays RuntimeService and v1alpha2 calls, and methods the shim has no schema for', async () => {
    const { cri, shim } = await shimWith((dir) => yaml(w, dir, { host: w.a.host, creds: w.a.creds }, []));
    await cri.pullImage('app:v1');
    assert.deepEqual(await cri.version(), await direct.version());
    const alpha = new CriClient(shim.socket, 'v1alpha2');
    const alphaDirect = new CriClient(w.containerd.socket, 'v1alpha2');
    try {
      const viaShim = await alpha.listImages();
      assert.equal(viaShim.images.length, 1);
      assert.deepEqual(viaShim, await alphaDirect.listImages());
      assert.equal((await alpha.version()).runtime_api_version, 'v1alpha2');
    } finally {
      alpha.close();
      alphaDirect.close();
    }
    await assert.rejects(cri.futureMethod(), (e: Error & { code: number; details: string }) => {
      assert.equal(e.code, 12);
      assert.match(
        e.details,
        /unknown method FutureMethod for service runtime.v1.RuntimeService/,
        'UNIMPLEMENTED comes from containerd',
      );
      return true;
    });
  });

  it('answers RESOURCE_EXHAUSTED for a request over the message limit, and keeps serving', async () => {
    const { cri } = await shimWith((dir) => yaml(w, dir, { host: w.a.host, creds: w.a.creds }, []));
    await assert.rejects(
      cri.pullImage('app:v1', undefined, { big: 'x'.repeat(17 * 1024 * 1024) }),
      (e: Error & { code: number; details: string }) => {
        assert.equal(e.code, 8);
        assert.match(e.details, /larger than max/);
        return true;
      },
    );
    assert.equal((await cri.pullImage('app:v1')).image_ref, w.appId.a);
  });

  it("returns the runtime's error for a malformed image reference", async () => {
    const { cri } = await shimWith((dir) => yaml(w, dir, { host: w.a.host, creds: w.a.creds }, []));
    await assert.rejects(cri.pullImage('Not A Valid::Reference'), (e: Error & { details: string }) => {
      assert.match(e.details, /Not A Valid::Reference/);
      return true;
    });
    assert.ok((await cri.version()).runtime_name);
  });

  it('survives a containerd restart without restarting', async () => {
    const { cri, shim } = await shimWith((dir) => yaml(w, dir, { host: w.a.host, creds: w.a.creds }, []));
    assert.equal((await cri.version()).runtime_name, 'containerd');
    await w.containerd.kill9();
    const started = Date.now();
    await assert.rejects(cri.version(5000), (e: Error & { code: number }) => {
      assert.equal(e.code, 14, 'UNAVAILABLE while the runtime is down');
      return true;
    });
    assert.ok(Date.now() - started < 3000, 'failed fast, did not hang');
    await w.containerd.start();
    assert.equal((await cri.version()).runtime_name, 'containerd');
    assert.equal(shim.proc.child.exitCode, null, 'same shim process');
    assert.equal((await cri.pullImage('app:v1')).image_ref, w.appId.a);
  });

  it('on SIGTERM exits 0 and removes its socket', async () => {
    const { shim, cri } = await shimWith((dir) => yaml(w, dir, { host: w.a.host, creds: w.a.creds }, []));
    await cri.version();
    running.pop();
    cri.close();
    assert.equal(await shim.stop(), 0);
    assert.ok(!existsSync(shim.socket));
  });
});

describe('the socket', () => {
  it('is 0660, refuses a second shim on a live socket, and replaces a stale one', async () => {
    const { shim, dir } = await shimWith((d) =>
      yaml(w, d, { host: w.a.host, creds: w.a.creds }, [], 'cache:\n  statsLogInterval: 200ms'),
    );
    assert.equal(statSync(shim.socket).mode & 0o777, 0o660);
    await shim.waitForLog(
      'cache stats: image_hits=0 image_misses=0 domain_hits=0 domain_misses=0 image_evictions=0 domain_evictions=0 ' +
        'invalidations=0',
    );

    const second = startProc(process.execPath, [CLI, '--file', shim.configFile]);
    assert.equal(await second.exited(), EXIT.shimSocket);
    assert.match(second.output(), /ERROR \[ERR_SHIM_SOCKET\] socket already in use/);

    // A crash leaves the socket file behind: the next start removes it and serves.
    await shim.proc.kill9();
    running.pop();
    assert.ok(existsSync(shim.socket), 'stale socket left by kill -9');
    const again = await startShim(dir, readFileSync(shim.configFile, 'utf8'));
    const cri = new CriClient(again.socket);
    running.push({ shim: again, clients: [cri] });
    assert.equal((await cri.version()).runtime_name, 'containerd');
  });
});

describe('bad config', () => {
  it('exits non-zero naming the file and key, without creating the socket', async () => {
    const dir = join(w.dir, `bad-${++n}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'bad.yaml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      file,
      `shim: ${join(dir, 'shim.sock')}\ncri: ${w.containerd.socket}\naddress: http://${w.a.host}\nregistries:\n  - ` +
        `address: r1.example\n  - address: r2.example\n  - address: r3.example\n    priority: high\n`,
    );
    const proc = startProc(process.execPath, [CLI, '--file', file]);
    const code = await proc.exited();
    assert.equal(code, EXIT.config);
    assert.match(proc.output(), /ERROR \[ERR_CONFIG\] /);
    assert.match(proc.output(), new RegExp(`${file}: registries\\[2\\]\\.priority: expected a number, got "high"`));
    assert.ok(!existsSync(join(dir, 'shim.sock')));
  });
});
