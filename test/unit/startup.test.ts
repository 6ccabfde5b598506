// The order the shim starts, reloads and stops in, without containerd: a runtime on a unix
// socket that answers everything, a registry client answering from a table, and the test API
// server as the cluster, all handed to startShim as its dependencies.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startShim } from '../../src/app.js';
import type { KubeClient } from '../../src/kube/api-client.js';
import { connectCluster, findCluster } from '../../src/kube/cluster.js';
import { setLogSink } from '../../src/log.js';
import { CriClient } from '../support/cri-client.js';
import { FakeProber } from '../support/fake-prober.js';
import { startFakeRuntime, type FakeRuntime } from '../support/fake-runtime.js';
import { FakeKubeApi } from '../support/kube-api.js';
import { rawServer, tempDir } from '../support/procs.js';

const tmp = tempDir('startup');
const runtimeSocket = join(tmp.path, 'runtime.sock');
let runtime: FakeRuntime;
let api: FakeKubeApi;
let n = 0;
const lines: string[] = [];

before(async () => {
  runtime = await startFakeRuntime(runtimeSocket);
  mkdirSync(join(tmp.path, 'kube'));
  api = await FakeKubeApi.start(join(tmp.path, 'kube'));
  setLogSink((line) => lines.push(line));
});

after(async () => {
  setLogSink((line) => process.stderr.write(`${line}\n`));
  await api.stop();
  await runtime.close();
  tmp.remove();
});

/** A config file for a shim of its own; returns its path and socket. */
function configFile(lines: string[]): { file: string; socket: string } {
  const dir = join(tmp.path, `shim-${++n}`);
  mkdirSync(dir);
  const socket = join(dir, 'shim.sock');
  const file = join(dir, 'image-cri-shim.yaml');
  writeFileSync(file, [`shim: ${socket}`, `cri: ${runtimeSocket}`, ...lines].join('\n'), { mode: 0o600 });
  return { file, socket };
}

/** The test API server's client, with its close() counted. */
async function clusterClient(closed: { count: number }): Promise<KubeClient> {
  const env = { KUBECONFIG: api.kubeconfig, HOME: tmp.path };
  const client = await connectCluster(findCluster(env), env);
  const close = client.close.bind(client);
  client.close = async () => {
    closed.count++;
    await close();
  };
  return client;
}

describe('start-up order', () => {
  it('serves calls from the socket before the cluster has answered', async () => {
    const { file, socket } = configFile(['address: http://sealos.hub:5000']);
    const closed = { count: 0 };
    api.hangReads = true;
    const shim = await startShim(file, {
      registries: () => new FakeProber({ 'sealos.hub:5000': 'found' }),
      cluster: () => clusterClient(closed),
    });
    const cri = new CriClient(socket);
    try {
      const started = Date.now();
      assert.equal((await cri.version(2000)).runtime_name, 'fake');
      assert.ok(Date.now() - started < 1000);
    } finally {
      cri.close();
      api.hangReads = false;
      await shim.stop();
    }
    assert.equal(closed.count, 1, 'stop() closed the cluster client');
  });

  it("makes the first image decision on the cluster's configuration, not behind the plain-HTTP check", async () => {
    // A bare host:port that accepts connections and never answers: the plain-HTTP check waits on it for seconds.
    const hang = await rawServer(() => {});
    api.put('image-cri-shim', { 'registries.yaml': 'registries:\n  - address: cm.registry.io\n    priority: 2000\n' });
    const { file, socket } = configFile([
      'address: http://sealos.hub:5000',
      'registries:',
      `  - address: ${hang.host}`,
    ]);
    const prober = new FakeProber({ 'sealos.hub:5000': 'found', 'cm.registry.io': 'found' });
    const shim = await startShim(file, { registries: () => prober, cluster: () => clusterClient({ count: 0 }) });
    const cri = new CriClient(socket);
    try {
      const started = Date.now();
      await cri.pullImage('app:v1');
      const ms = Date.now() - started;
      assert.ok(ms < 1500, `decided in ${ms} ms`);
      assert.ok(prober.calls.includes('cm.registry.io/library/app:v1'), 'decided on the ConfigMap');
    } finally {
      cri.close();
      await shim.stop();
      await hang.close();
      api.delete('image-cri-shim');
    }
  });

  it('applies reloads in order: the last configuration written is the one in force', async () => {
    const { file, socket } = configFile(['address: http://sealos.hub:5000']);
    const prober = new FakeProber({ 'a.io': 'found', 'b.io': 'found', 'c.io': 'found' });
    const shim = await startShim(file, { registries: () => prober, cluster: async () => undefined });
    const cri = new CriClient(socket);
    try {
      for (const host of ['a.io', 'b.io', 'c.io']) {
        writeFileSync(file, `shim: ${socket}\ncri: ${runtimeSocket}\naddress: http://${host}\n`);
        await shim.live.reload();
      }
      await cri.pullImage('app:v2');
      assert.deepEqual(
        prober.calls.filter((c) => c.endsWith('app:v2')),
        ['c.io/library/app:v2'],
      );
    } finally {
      cri.close();
      await shim.stop();
    }
  });

  it('runs the stats line on its clock: every statsLogInterval, rescheduled on reload, cancelled', async () => {
    const timers: { ms: number; task: () => void; cancelled: boolean }[] = [];
    const clock = {
      every(ms: number, task: () => void) {
        const timer = { ms, task, cancelled: false };
        timers.push(timer);
        return { cancel: () => (timer.cancelled = true) };
      },
      now: () => Date.parse('2026-12-04T10:00:00Z'),
    };
    const { file, socket } = configFile(['address: http://sealos.hub:5000', 'cache: { statsLogInterval: 7s }']);
    const shim = await startShim(file, { clock, registries: () => new FakeProber({}), cluster: async () => undefined });
    try {
      assert.deepEqual(
        timers.map((t) => [t.ms, t.cancelled]),
        [[7000, false]],
      );
      const from = lines.length;
      timers[0]!.task();
      assert.match(lines.slice(from).join('\n'), /cache stats: image_hits=0 .* generated_at=2026-12-04T10:00:00Z/);
      writeFileSync(
        file,
        `shim: ${socket}\ncri: ${runtimeSocket}\naddress: http://sealos.hub:5000\ncache: { statsLogInterval: 3s }\n`,
      );
      await shim.live.reload();
      assert.deepEqual(
        timers.map((t) => [t.ms, t.cancelled]),
        [
          [7000, true],
          [3000, false],
        ],
      );
      writeFileSync(
        file,
        `shim: ${socket}\ncri: ${runtimeSocket}\naddress: http://sealos.hub:5000\ncache: { disableStats: true }\n`,
      );
      await shim.live.reload();
      assert.equal(timers.length, 2, 'disableStats: no new timer');
      assert.ok(timers.every((t) => t.cancelled));
    } finally {
      await shim.stop();
    }
  });

  it('leaves nothing running after stop(): the process ends by itself', async () => {
    const { file } = configFile(['address: http://sealos.hub:5000']);
    const script = fileURLToPath(new URL('../support/start-stop.js', import.meta.url));
    const child = spawn(process.execPath, [script, file], {
      env: { PATH: process.env.PATH, KUBECONFIG: api.kubeconfig, HOME: tmp.path },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 15_000);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 0, `the process did not end by itself within 15 s:\n${out}`);
    assert.match(out, /stopped/);
  });
});
