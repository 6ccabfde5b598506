// End to end: ConfigMap sync and hot reload, with the built CLI, real containerd, real
// registries, and the test API server talking to the real Kubernetes client library.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/load.js';
import { CriClient } from '../support/cri-client.js';
import { createClusterWorld, type ClusterWorld, type World } from '../support/fixture.js';
import type { FakeKubeApi } from '../support/kube-api.js';
import { startShim, type TestShim } from '../support/shim.js';

let w: World;
let api: FakeKubeApi;
let direct: CriClient;
let n = 0;
const running: { shim: TestShim; cri: CriClient }[] = [];
const CM = 'image-cri-shim';

let world: ClusterWorld | undefined;

before(async () => {
  world = await createClusterWorld();
  ({ w, api, direct } = world);
});

after(async () => {
  await world?.teardown();
});

beforeEach(async () => {
  api.delete(CM);
  for (const img of (await direct.listImages()).images) await direct.removeImage(img.id);
});

afterEach(async () => {
  for (const { shim, cri } of running.splice(0)) {
    cri.close();
    for (const secret of w.secrets) assert.ok(!shim.output().includes(secret), 'a password reached the shim output');
    await shim.stop();
  }
});

function localConfig(dir: string, extra = ''): string {
  return `# operator's comment: keep me
shim: ${join(dir, 'shim.sock')}
cri: ${w.containerd.socket}
address: http://${w.a.host}   # offline registry
auth: ${w.a.creds}
probeTimeout: 1s
fallback: false
debug: true
registries:
  - address: http://${w.b.host}
    auth: ${w.b.creds}
    priority: 500
${extra}`;
}

/** registries.yaml as an administrator writes it (the guide's format). */
function cmData(
  registries: { host: string; user: string; password: string; priority: number }[],
  extra = '',
): Record<string, string> {
  const list = registries
    .map(
      (r) =>
        `  - address: http://${r.host}\n    auth:\n      username: ${r.user}\n      password: ${r.password}\n    ` +
        `priority: ${r.priority}\n`,
    )
    .join('');
  return { 'registries.yaml': `version: v1\nregistries:\n${list}${extra}` };
}

async function start(
  extra = '',
  env: NodeJS.ProcessEnv = {},
): Promise<{ shim: TestShim; cri: CriClient; dir: string }> {
  const dir = join(w.dir, `live-${++n}`);
  mkdirSync(dir);
  const shim = await startShim(dir, localConfig(dir, extra), {
    ...process.env,
    KUBECONFIG: api.kubeconfig,
    HOME: dir,
    ...env,
  });
  const cri = new CriClient(shim.socket);
  running.push({ shim, cri });
  return { shim, cri, dir };
}

async function pulledFrom(cri: CriClient, image = 'app:v1'): Promise<string> {
  for (const img of (await direct.listImages()).images) await direct.removeImage(img.id);
  return (await cri.pullImage(image)).image_ref;
}

describe('live configuration from the ConfigMap', () => {
  it('decides the first pull on the ConfigMap, asked for as soon as the socket listens', async () => {
    api.put(CM, cmData([{ host: w.b.host, user: w.b.user, password: w.b.password, priority: 3000 }]));
    const { shim, cri } = await start();
    assert.equal(await pulledFrom(cri), w.appId.b, 'the first pull already uses the ConfigMap');
    await shim.waitForLog('synced image-cri-shim config from ConfigMap into');
    assert.match(shim.output(), /configmap: syncing registry http:\/\/127\.0\.0\.1:\d+ with priority=3000/);
    assert.match(shim.output(), /configmap: merged 1 registries into config/);
  });

  it('applies a ConfigMap created and then changed while running, through the watch, without restart', async () => {
    const { shim, cri } = await start('reloadInterval: 1h\n');
    const pid = shim.proc.pid;
    assert.equal(await pulledFrom(cri), w.appId.a, 'local config: A (1000) over B (500)');

    let from = shim.output().length;
    let t0 = Date.now();
    api.put(CM, cmData([{ host: w.b.host, user: w.b.user, password: w.b.password, priority: 2000 }]));
    await shim.waitForLog('reloaded shim auth configuration from', 2000, from);
    const createdMs = Date.now() - t0;
    assert.equal(await pulledFrom(cri), w.appId.b, 'B is now top priority');
    assert.match(readFileSync(shim.configFile, 'utf8'), /# operator's comment: keep me/);

    // Flip priorities: B below the offline registry again. reloadInterval is 1h, so only the
    // watch can bring this in.
    from = shim.output().length;
    t0 = Date.now();
    api.put(
      CM,
      cmData([{ host: w.b.host, user: w.b.user, password: w.b.password, priority: 100 }], 'offlinePriority: 1500\n'),
    );
    await shim.waitForLog('reloaded shim auth configuration from', 2000, from);
    const flippedMs = Date.now() - t0;
    await shim.waitForLog('configmap: synced offlinePriority=1500', 1000, from);
    assert.equal(await pulledFrom(cri), w.appId.a);
    assert.equal(shim.proc.pid, pid);
    assert.equal(shim.proc.child.exitCode, null);
    process.stdout.write(`# configmap change applied in ${createdMs} ms (create) and ${flippedMs} ms (update)\n`);
  });

  it('keeps the local file and keeps serving when the ConfigMap is deleted', async () => {
    api.put(CM, cmData([{ host: w.b.host, user: w.b.user, password: w.b.password, priority: 2000 }]));
    const { shim, cri } = await start();
    await shim.waitForLog('synced image-cri-shim config from ConfigMap into');
    const merged = readFileSync(shim.configFile, 'utf8');
    const from = shim.output().length;
    api.delete(CM);
    await shim.waitForLog('configmap kube-system/image-cri-shim not found; skip syncing', 3000, from);
    assert.equal(readFileSync(shim.configFile, 'utf8'), merged);
    assert.equal(await pulledFrom(cri), w.appId.b);
  });

  it('serves at once while the API server hangs; image decisions wait only as long as a read may take', async () => {
    api.put(CM, cmData([{ host: w.b.host, user: w.b.user, password: w.b.password, priority: 3000 }]));
    api.hangReads = true;
    try {
      const started = Date.now();
      const { shim, cri } = await start();
      assert.equal((await cri.version()).runtime_name, 'containerd');
      const answeredMs = Date.now() - started;
      assert.ok(answeredMs < 5000, `Version answered ${answeredMs} ms after start, with the API server hanging`);
      assert.equal(await pulledFrom(cri), w.appId.a, 'the local file decides once the read has timed out');
      const waitedMs = Date.now() - started;
      assert.ok(waitedMs < 20_000, `the pull waited ${waitedMs} ms`);
      assert.match(
        shim.output(),
        /cannot read configmap kube-system\/image-cri-shim: no answer from the API server within \d+ms; serving/,
      );
    } finally {
      api.hangReads = false;
    }
  });

  it('keeps serving while the API server is down and resumes syncing when it returns', async () => {
    const { shim, cri } = await start('reloadInterval: 1s\n');
    await api.stop();
    try {
      assert.equal(await pulledFrom(cri), w.appId.a);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await cri.version()).runtime_name, 'containerd');
      api.put(CM, cmData([{ host: w.b.host, user: w.b.user, password: w.b.password, priority: 2000 }]));
    } finally {
      await api.restart();
    }
    await shim.waitForLog('reloaded shim auth configuration from', 10_000);
    assert.equal(await pulledFrom(cri), w.appId.b);
  });

  it('ignores a hand-written invalid file: the last good configuration stays in force', async () => {
    const { shim, cri } = await start('reloadInterval: 500ms\n');
    const from = shim.output().length;
    writeFileSync(
      shim.configFile,
      readFileSync(shim.configFile, 'utf8')
        .replace('priority: 500', 'priority: high')
        .replace(`http://${w.a.host}`, `http://${w.b.host}`),
    );
    await shim.waitForLog(
      /registries\[0\]\.priority: expected a number, got "high"; keeping the running configuration/,
      3000,
      from,
    );
    assert.equal(await pulledFrom(cri), w.appId.a, 'still the old config');
    // Fixing the file applies it.
    writeFileSync(shim.configFile, readFileSync(shim.configFile, 'utf8').replace('priority: high', 'priority: 5000'));
    await shim.waitForLog('reloaded shim auth configuration from', 3000, from);
    assert.equal(await pulledFrom(cri), w.appId.b);
  });

  it('reloads at once on SIGHUP', async () => {
    const { shim } = await start('reloadInterval: 1h\n');
    const from = shim.output().length;
    process.kill(shim.proc.pid, 'SIGHUP');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(shim.proc.child.exitCode, null, 'SIGHUP does not stop the shim');
    writeFileSync(shim.configFile, readFileSync(shim.configFile, 'utf8').replace('debug: true', 'debug: false'));
    process.kill(shim.proc.pid, 'SIGHUP');
    await shim.waitForLog('reloaded shim auth configuration from', 2000, from);
  });

  it('expands ${VAR} credentials from the environment', async () => {
    api.put(CM, {
      'registries.yaml':
        `registries:\n  - address: http://${w.c.host}\n    auth:\n      username: \${REG_USER}\n   ` +
        `   password: \${REG_PASS}\n    priority: 4000\n`,
    });
    const { shim, cri } = await start('', { REG_USER: w.c.user, REG_PASS: w.c.password });
    await shim.waitForLog('synced image-cri-shim config from ConfigMap into');
    assert.match(
      readFileSync(shim.configFile, 'utf8'),
      /auth: \$\{REG_USER\}:\$\{REG_PASS\}/,
      'the file keeps the reference, not the secret',
    );
    assert.equal(
      await pulledFrom(cri, 'only-c:v1'),
      w.onlyCId,
      'credentials from the environment reached the token registry',
    );
  });

  it('warns about unparseable ConfigMap content and writes nothing', async () => {
    const { shim } = await start();
    const before = readFileSync(shim.configFile, 'utf8');
    const from = shim.output().length;
    api.put(CM, { 'registries.yaml': 'registries: [unclosed\n' });
    await shim.waitForLog(/registries\.yaml: invalid YAML.*nothing written/, 3000, from);
    assert.equal(readFileSync(shim.configFile, 'utf8'), before);
  });

  it('never leaves a torn local file when killed with -9 during a burst of ConfigMap updates', async () => {
    const { shim } = await start();
    for (let i = 0; i < 40; i++) {
      api.put(
        CM,
        cmData(
          [{ host: w.b.host, user: w.b.user, password: w.b.password, priority: 600 + i }],
          `cache:\n  imageCacheSize: ${100 + i}\n`,
        ),
      );
      await new Promise((r) => setTimeout(r, 5 + (i % 7)));
    }
    await shim.proc.kill9();
    running.pop()!.cri.close();
    const text = readFileSync(shim.configFile, 'utf8');
    const { config } = parseConfigText(text, shim.configFile, process.env);
    assert.ok(config.registries.length >= 2, 'the file parses as a whole config');
  });

  it('runs on the local file when there is no cluster', async () => {
    const dir = join(w.dir, `nocluster-${++n}`);
    mkdirSync(dir);
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir };
    delete env.KUBECONFIG;
    const shim = await startShim(dir, localConfig(dir), env);
    const cri = new CriClient(shim.socket);
    running.push({ shim, cri });
    assert.match(shim.output(), /skip syncing image-cri-shim config; unable to create kube client: /);
    assert.equal(await pulledFrom(cri), w.appId.a);
  });
});
