// npm run bench: the quality bars (pass-through overhead, decision cost, pull bursts, memory,
// start-up), measured side by side in one run on real containerd and real registries on
// 127.0.0.1. Prints a table and writes JSON to bench/results/. Loops are bounded in count and time.
//
//   BENCH_SOAK_SECONDS  steady mixed load for the RSS/fd check (default 600)
//   BENCH_ROUNDS        interleaved rounds for latency (default 10)
//   BENCH_CALLS         calls per target per round (default 300)
//   BENCH_SHIM_NODE_OPTIONS  Node options for the shim (default: those of deploy/image-cri-shim.service)

import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfigText } from '../src/config/load.js';
import { RegistryClient } from '../src/registry/client.js';
import { RewriteEngine } from '../src/rewrite/engine.js';
import { USER_AGENT } from '../src/version.js';
import { setLogSink } from '../src/log.js';
import { startContainerd } from '../test/support/containerd.js';
import { CriClient } from '../test/support/cri-client.js';
import { buildImage, pushImage } from '../test/support/image.js';
import { freePort, rawServer, runScript, startProc, waitForSocket } from '../test/support/procs.js';
import { startRegistry, type TestRegistry } from '../test/support/registry.js';
import { startShim } from '../test/support/shim.js';
import { tagMany } from './containerd-images.js';
import { buildPreviousExecutable, previousNode } from './previous-node.js';
import { EXECUTABLE, measureStartup, type ShimStart, startKubeApiProcess } from './startup.js';
import { unitNodeOptions } from '../scripts/unit.js';

const SOAK_SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 600);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const CALLS = Number(process.env.BENCH_CALLS ?? 300);
const LIST_IMAGES = 5000;
const PROBE_TIMEOUT_MS = 1000;

type Row = { name: string; value: string; target?: string; pass?: boolean };
const rows: Row[] = [];
const figures: Record<string, unknown> = {};
const say = (text: string) => process.stderr.write(`[bench] ${text}\n`);

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
function summary(samples: number[]): { median: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
}
const ms = (x: number) => `${x.toFixed(3)} ms`;
const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

/** Runs `fn` CALLS times per target per round, targets shuffled each round; returns latencies. */
async function interleaved(targets: Record<string, () => Promise<unknown>>): Promise<Record<string, number[]>> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
  for (const fn of Object.values(targets)) for (let i = 0; i < 50; i++) await fn(); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    const order = Object.keys(targets).sort(() => Math.random() - 0.5);
    for (const name of order) {
      const fn = targets[name]!;
      for (let i = 0; i < CALLS; i++) {
        const t0 = performance.now();
        await fn();
        samples[name]!.push(performance.now() - t0);
      }
    }
  }
  return samples;
}

function passThroughRows(label: string, samples: Record<string, number[]>): void {
  const s = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summary(v)]));
  const shimAdds = s.shim!.median - s.direct!.median;
  const relayAdds = s.relay!.median - s.direct!.median;
  const ratio = shimAdds / relayAdds;
  figures[label] = { ...s, shimAddsMs: shimAdds, relayAddsMs: relayAdds, ratio };
  rows.push({ name: `${label}: direct median / p99`, value: `${ms(s.direct!.median)} / ${ms(s.direct!.p99)}` });
  rows.push({ name: `${label}: bare relay median / p99`, value: `${ms(s.relay!.median)} / ${ms(s.relay!.p99)}` });
  rows.push({ name: `${label}: shim median / p99`, value: `${ms(s.shim!.median)} / ${ms(s.shim!.p99)}` });
  rows.push({
    name: `${label}: added by shim vs by bare relay`,
    value: `${ms(shimAdds)} vs ${ms(relayAdds)} = ${ratio.toFixed(2)}x`,
    target: '<= 1.2x',
    pass: ratio <= 1.2,
  });
}

/** What the shim adds for a client whose :authority it must replace, next to one it hands on as it is. */
function authorityRows(label: string, samples: Record<string, number[]>): void {
  const s = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summary(v)]));
  const localhostAdds = s.localhost!.median - s.direct!.median;
  const pathAdds = s.socketPath!.median - s.direct!.median;
  figures[`${label} by authority`] = { ...s, localhostAddsMs: localhostAdds, socketPathAddsMs: pathAdds };
  rows.push({
    name: `${label} through the shim: socket-path client vs localhost client, added`,
    value: `${ms(pathAdds)} vs ${ms(localhostAdds)} (+${ms(pathAdds - localhostAdds)})`,
    target: '<= +0.5 ms',
    pass: pathAdds - localhostAdds <= 0.5,
  });
}

runScript('bench', async (dir, defer) => {
  setLogSink(() => {}); // the in-process engine's own log lines are not bench output
  say('starting containerd and 5 registries');
  const containerd = await startContainerd(join(dir, 'containerd'));
  defer(() => containerd.stop());
  const regs: TestRegistry[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await startRegistry(join(dir, `reg${i}`), i === 0 ? 'htpasswd' : 'none', {
      user: 'bench',
      password: 'bench-secret',
    });
    defer(() => r.stop());
    containerd.allowHttpRegistry(r.host);
    regs.push(r);
  }
  const offline = regs[0]!;
  mkdirSync(join(dir, 'img'));
  buildImage(join(dir, 'img', 'app'), 'bench image', 'v1');
  await pushImage(join(dir, 'img', 'app'), 'v1', `${offline.host}/library/app:v1`, offline.creds);
  // 100 distinct tags for the concurrency test through the shim (t*) and 100 for the same test
  // straight to containerd (d*), by manifest PUT (the blobs are already there).
  const auth = `Basic ${Buffer.from(offline.creds!).toString('base64')}`;
  const manifestRes = await fetch(`http://${offline.host}/v2/library/app/manifests/v1`, {
    headers: { authorization: auth, accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  const manifest = await manifestRes.text();
  for (const prefix of ['t', 'd']) {
    for (let i = 0; i < 100; i++) {
      await fetch(`http://${offline.host}/v2/library/app/manifests/${prefix}${i}`, {
        method: 'PUT',
        headers: { authorization: auth, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        body: manifest,
      });
    }
  }

  const direct = new CriClient(containerd.socket);
  defer(async () => direct.close());
  await direct.pullImage(`${offline.host}/library/app:v1`, { username: 'bench', password: 'bench-secret' });
  // A second, separate image for ImageStatus: one name, so the answer stays small.
  buildImage(join(dir, 'img', 'small'), 'small image', 'v1');
  await pushImage(join(dir, 'img', 'small'), 'v1', `${offline.host}/library/small:v1`, offline.creds);
  await direct.pullImage(`${offline.host}/library/small:v1`, { username: 'bench', password: 'bench-secret' });
  say(`creating ${LIST_IMAGES} image names in containerd`);
  await tagMany(
    containerd.socket,
    `${offline.host}/library/app:v1`,
    Array.from({ length: LIST_IMAGES }, (_, i) => `bench.local/many/img${i}:v1`),
  );
  // The CRI plugin learns of new names through containerd's events (about 40 a second here).
  // Until its CRI plugin has loaded, containerd answers "server is not initialized yet".
  const names = () =>
    direct.listImages().then(
      (r) => r.images.reduce((n, img) => n + img.repo_tags.length, 0),
      () => 0,
    );
  const listDeadline = Date.now() + 300_000;
  while ((await names()) < LIST_IMAGES && Date.now() < listDeadline) await sleep(500);
  const listed = await names();
  say(`runtime lists ${listed} image names`);
  const registriesYaml = regs
    .slice(1)
    .map((r, i) => `  - address: http://${r.host}\n    priority: ${2000 - i * 100}\n`)
    .join('');
  const shimDir = join(dir, 'shim');
  mkdirSync(shimDir);
  // The shim runs with the Node options of the shipped systemd unit, unless BENCH_SHIM_NODE_OPTIONS says otherwise.
  const nodeOptions = process.env.BENCH_SHIM_NODE_OPTIONS ?? unitNodeOptions();
  const shim = await startShim(
    shimDir,
    // Default probe timeout (5s): the shim as an operator runs it.
    `shim: ${join(shimDir, 'shim.sock')}\ncri: ${containerd.socket}\naddress: http://${offline.host}\nauth: ` +
      `${offline.creds}\nfallback: false\ncache:\n  statsLogInterval: 0\nregistries:\n${registriesYaml}`,
    { ...process.env, HOME: shimDir, KUBECONFIG: '', NODE_OPTIONS: nodeOptions },
  );
  defer(() => shim.stop());
  figures.shimNodeOptions = nodeOptions;
  const relaySock = join(dir, 'relay.sock');
  const relay = startProc(process.execPath, [
    fileURLToPath(new URL('./h2-relay.js', import.meta.url)),
    relaySock,
    containerd.socket,
  ]);
  defer(() => relay.stop());
  await waitForSocket(relaySock);
  const viaShim = new CriClient(shim.socket);
  const viaRelay = new CriClient(relaySock);
  defer(async () => {
    viaShim.close();
    viaRelay.close();
  });

  say(`unary pass-through: ${ROUNDS} interleaved rounds x ${CALLS} calls per target`);
  passThroughRows(
    'Version',
    await interleaved({
      direct: () => direct.version(),
      relay: () => viaRelay.version(),
      shim: () => viaShim.version(),
    }),
  );
  const known = `${offline.host}/library/small:v1`;
  passThroughRows(
    'ImageStatus',
    await interleaved({
      direct: () => direct.imageStatus(known),
      relay: () => viaRelay.imageStatus(known),
      shim: () => viaShim.imageStatus(known),
    }),
  );

  say('ImageStatus for an image on the node while the top registry hangs, from a shim just started');
  // `small:v1` is on the node under its registry's name only (as the Go shim leaves images); the
  // shim is asked for the short name, with a registry that never answers above the one that has it.
  const hangAtTop = await rawServer(() => {});
  defer(() => hangAtTop.close());
  const nodeFirstDir = join(dir, 'shim-node-first');
  mkdirSync(nodeFirstDir);
  const nodeFirst = await startShim(
    nodeFirstDir,
    `shim: ${join(nodeFirstDir, 'shim.sock')}\ncri: ${containerd.socket}\naddress: http://${offline.host}\nauth: ` +
      `${offline.creds}\nfallback: false\nregistries:\n  - address: http://${hangAtTop.host}\n    priority: 5000\n`,
    { ...process.env, HOME: nodeFirstDir, KUBECONFIG: '', NODE_OPTIONS: nodeOptions },
  );
  defer(() => nodeFirst.stop());
  const viaNodeFirst = new CriClient(nodeFirst.socket);
  defer(async () => viaNodeFirst.close());
  const firstCallStarted = performance.now();
  await viaNodeFirst.imageStatus('small:v1');
  const firstCallMs = performance.now() - firstCallStarted;
  const onNode = await interleaved({
    direct: () => direct.imageStatus(known),
    shim: () => viaNodeFirst.imageStatus('small:v1'),
  });
  const [nd, ns] = [summary(onNode.direct!), summary(onNode.shim!)];
  const nodeFirstMax = Math.max(firstCallMs, ...onNode.shim!);
  figures.imageStatusOnNodeRegistryHanging = { direct: nd, shim: ns, firstCallMs, shimMaxMs: nodeFirstMax };
  rows.push({
    name: 'ImageStatus, image on the node, top registry hanging: direct (registry name) vs shim (short name)',
    value:
      `${ms(nd.median)} vs ${ms(ns.median)} median, ${ms(nd.p99)} vs ${ms(ns.p99)} p99; shim max ` +
      `${ms(nodeFirstMax)} (first call ${ms(firstCallMs)})`,
    target: 'never waits on a registry: max < 500 ms',
    pass: nodeFirstMax < 500,
  });

  say('start-up and idle memory: bare node, node dist/src/cli.js, the single executable');
  const api = await startKubeApiProcess(join(dir, 'kube'), {
    'registries.yaml': `registries:\n  - address: http://${offline.host}\n    priority: 900\n`,
  });
  defer(() => api.stop());
  const older = previousNode();
  const startup = await measureStartup({
    dir,
    runtimeSocket: containerd.socket,
    kubeconfig: api.kubeconfig,
    nodeOptions,
    rounds: Math.max(3, Math.min(ROUNDS, 10)),
    previous: older && { ...older, executable: buildPreviousExecutable(older.node, join(dir, 'previous-node')) },
  });
  figures.startup = startup;
  rows.push({ name: 'start-up, exec to exit: bare node -e 0 (median)', value: ms(startup.bareNodeMs) });
  const startRows = (label: string, f: ShimStart) => {
    const listen = f.listenMs / startup.bareNodeMs;
    const answer = f.answerMs / startup.bareNodeMs;
    rows.push({
      name: `start-up, exec to socket accepting: ${label}`,
      value: `${ms(f.listenMs)} = ${listen.toFixed(1)}x bare node`,
      target: '<= 2x',
      pass: listen <= 2,
    });
    rows.push({
      name: `start-up, exec to first CRI call answered: ${label}`,
      value: `${ms(f.answerMs)} = ${answer.toFixed(1)}x bare node`,
      ...(label.startsWith('single executable') ? { target: '<= 2x', pass: answer <= 2 } : {}),
    });
    rows.push({
      name: `idle RSS (ConfigMap watch running): ${label}`,
      value: `${f.idleRssMiB.toFixed(1)} MiB`,
      target: '<= 64 MiB',
      pass: f.idleRssMiB <= 64,
    });
  };
  startRows('node dist/src/cli.js', startup.nodeCli);
  if (startup.executable) startRows('single executable', startup.executable);
  else rows.push({ name: 'single executable', value: `missing: ${EXECUTABLE} (npm run package)`, pass: false });
  if (startup.executableNoOptions) startRows('single executable, no NODE_OPTIONS', startup.executableNoOptions);
  if (startup.previous) {
    const { version, bareNodeMs, executable } = startup.previous;
    rows.push({ name: `start-up, exec to exit: bare node -e 0 on Node.js ${version} (median)`, value: ms(bareNodeMs) });
    rows.push({
      name: `the same executable on Node.js ${version} (before): socket accepting / first call answered / idle RSS`,
      value:
        `${ms(executable.listenMs)} / ${ms(executable.answerMs)} (${(executable.answerMs / bareNodeMs).toFixed(1)}x ` +
        `its bare node) / ${executable.idleRssMiB.toFixed(1)} MiB`,
    });
  }

  say('clients that send the socket path as :authority (kubelet and crictl up to 1.30)');
  const viaShimPath = new CriClient(shim.socket, 'v1', undefined, shim.socket);
  defer(async () => viaShimPath.close());
  authorityRows(
    'Version',
    await interleaved({
      direct: () => direct.version(),
      localhost: () => viaShim.version(),
      socketPath: () => viaShimPath.version(),
    }),
  );
  authorityRows(
    'ImageStatus',
    await interleaved({
      direct: () => direct.imageStatus(known),
      localhost: () => viaShim.imageStatus(known),
      socketPath: () => viaShimPath.imageStatus(known),
    }),
  );

  say(`ListImages with ${listed} names`);
  const lists = await interleaved({ direct: () => direct.listImages(), shim: () => viaShim.listImages() });
  const ld = summary(lists.direct!);
  const lsh = summary(lists.shim!);
  const listRatio = (lsh.median - ld.median) / ld.median;
  figures.listImages = { names: listed, direct: ld, shim: lsh, addedFraction: listRatio };
  rows.push({
    name: `ListImages (${listed} names): direct vs shim median`,
    value: `${ms(ld.median)} vs ${ms(lsh.median)} = +${(listRatio * 100).toFixed(1)}%`,
    target: '<= +20%',
    pass: listRatio <= 0.2,
  });

  say('rewrite decision cost (in process, real registries)');
  const hangHost = hangAtTop.host;
  const downHost = `127.0.0.1:${await freePort()}`;
  const engineConfig = (extra: string, cache = 1024) =>
    parseConfigText(
      `address: http://${offline.host}\nauth: ${offline.creds}\nprobeTimeout: ${PROBE_TIMEOUT_MS}ms\ncache:\n  ` +
        `imageCacheSize: ${cache}\nregistries:\n${registriesYaml}${extra}`,
      'bench',
      {},
    ).config;
  const client = new RegistryClient();
  defer(() => client.close());
  const hitEngine = new RewriteEngine(client, engineConfig(''));
  await hitEngine.decide('app:v1', 'bench');
  const HITS = 100_000;
  const t0 = performance.now();
  for (let i = 0; i < HITS; i++) await hitEngine.decide('app:v1', 'bench');
  const hitUs = ((performance.now() - t0) / HITS) * 1000;
  figures.cacheHitMicros = hitUs;
  rows.push({ name: 'decision: cache hit', value: `${hitUs.toFixed(2)} µs`, target: '<= 50 µs', pass: hitUs <= 50 });
  /**
   * Decisions with nothing cached; `fresh` gives each its own client (no pooled connection, no memory of a registry not
   * answering).
   */
  const cold = async (name: string, extra: string, samples: number, fresh = false) => {
    const times: number[] = [];
    for (let i = -1; i < samples; i++) {
      const own = fresh ? new RegistryClient() : client;
      const engine = new RewriteEngine(own, engineConfig(extra, -1));
      const t = performance.now();
      await engine.decide('app:v1', 'bench');
      if (i >= 0) times.push(performance.now() - t); // the first one only warms up
      if (fresh) await own.close();
    }
    const s = summary(times);
    figures[`cold ${name}`] = s;
    return s;
  };
  const c5 = await cold('5 registries', '', 200);
  rows.push({
    name: 'decision: cold, 5 registries (winner = lowest priority)',
    value: `${ms(c5.median)} median, ${ms(c5.p99)} p99`,
  });
  const cDown = await cold('one down', `  - address: http://${downHost}\n    priority: 9000\n`, 100);
  rows.push({
    name: 'decision: cold, highest-priority registry down',
    value: `${ms(cDown.median)} median`,
    target: `<= probe timeout ${PROBE_TIMEOUT_MS} ms`,
    pass: cDown.p99 <= PROBE_TIMEOUT_MS,
  });
  const hangingAndDown =
    `  - address: http://${hangHost}\n    priority: 9000\n  - address: http://${downHost}\n    ` + `priority: 8000\n`;
  const cHang = await cold('one hanging', hangingAndDown, 5, true);
  rows.push({
    name: 'decision: cold, one registry hanging + one down',
    value: `${ms(cHang.median)} median, ${ms(cHang.p99)} max`,
    target: `~ probe timeout ${PROBE_TIMEOUT_MS} ms, not x registries`,
    pass: cHang.p99 <= PROBE_TIMEOUT_MS * 1.2,
  });
  // 100 distinct images at once against the same hanging registry: 8 probes reach it, the
  // rest are refused once the first time out, so the burst costs one timeout, not 100/8.
  const burstClient = new RegistryClient();
  const burstEngine = new RewriteEngine(burstClient, engineConfig(hangingAndDown, -1));
  const tb = performance.now();
  await Promise.all(Array.from({ length: 100 }, (_, i) => burstEngine.decide(`app:t${i}`, 'bench')));
  const burstMs = performance.now() - tb;
  await burstClient.close();
  figures.coldBurstHanging = { decisions: 100, wallMs: burstMs };
  rows.push({
    name: 'decision: 100 cold at once, one registry hanging',
    value: `${ms(burstMs)} wall`,
    target: `~ probe timeout ${PROBE_TIMEOUT_MS} ms`,
    pass: burstMs <= PROBE_TIMEOUT_MS * 1.5,
  });

  say('1000 concurrent PullImage over 100 distinct images: straight to containerd, then through the shim');
  const burst = async (
    cri: CriClient,
    image: (i: number) => string,
    creds?: { username: string; password: string },
  ) => {
    const started = performance.now();
    const results = await Promise.allSettled(
      Array.from({ length: 1000 }, (_, i) => cri.pullImage(image(i % 100), creds, {}, 300_000)),
    );
    const errors = results
      .filter((r) => r.status === 'rejected')
      .map((r) => String((r as PromiseRejectedResult).reason));
    return { wallMs: performance.now() - started, errors };
  };
  // The baseline pulls other tags of the same image (d*), so both runs find the blobs present.
  const directPulls = await burst(direct, (i) => `${offline.host}/library/app:d${i}`, {
    username: 'bench',
    password: 'bench-secret',
  });
  const probesBefore = regs.reduce((n, r) => n + r.manifestRequests(USER_AGENT), 0);
  const shimPulls = await burst(viaShim, (i) => `app:t${i}`);
  const probes = regs.reduce((n, r) => n + r.manifestRequests(USER_AGENT), 0) - probesBefore;
  const errors = [...directPulls.errors, ...shimPulls.errors];
  figures.concurrentPulls = {
    calls: 1000,
    distinct: 100,
    directWallMs: directPulls.wallMs,
    wallMs: shimPulls.wallMs,
    manifestProbes: probes,
    registries: regs.length,
    directErrors: directPulls.errors.length,
    errors: shimPulls.errors.length,
    firstError: errors[0],
  };
  rows.push({
    name: '1000 concurrent pulls / 100 images: wall, direct vs shim',
    value:
      `${(directPulls.wallMs / 1000).toFixed(2)} s vs ${(shimPulls.wallMs / 1000).toFixed(2)} s, errors ` +
      `${directPulls.errors.length} / ${shimPulls.errors.length}${errors[0] ? ` (${errors[0]})` : ''}`,
    target: 'no errors',
    pass: errors.length === 0,
  });
  rows.push({
    name: '1000 concurrent pulls / 100 images: manifest probes',
    value: `${probes}`,
    target: `<= 100 x ${regs.length} = ${100 * regs.length}`,
    pass: probes <= 100 * regs.length,
  });

  say(`steady mixed load for ${SOAK_SECONDS}s`);
  const pid = shim.proc.pid;
  // Warm up everything the soak touches before the baseline reading.
  for (let i = 0; i < 200; i++)
    await Promise.all([viaShim.version(), viaShim.imageStatus('app:v1'), viaShim.pullImage('app:v1')]);
  await viaShim.listImages();
  const rss0 = rssKb(pid);
  const fd0 = fds(pid);
  let calls = 0;
  const deadline = Date.now() + SOAK_SECONDS * 1000;
  const worker = async (w: number) => {
    for (let i = 0; i < 10_000_000 && Date.now() < deadline; i++) {
      const k = (i + w) % 20;
      if (k === 0) await viaShim.listImages();
      else if (k < 5) await viaShim.pullImage('app:v1');
      else if (k < 12) await viaShim.imageStatus(`app:t${i % 100}`);
      else await viaShim.version();
      calls++;
      await sleep(2);
    }
  };
  await Promise.all([0, 1, 2, 3].map(worker));
  const rss1 = rssKb(pid);
  const fd1 = fds(pid);
  figures.soak = { seconds: SOAK_SECONDS, calls, rssKbBefore: rss0, rssKbAfter: rss1, fdsBefore: fd0, fdsAfter: fd1 };
  rows.push({
    name: `RSS before / after ${SOAK_SECONDS}s mixed load (${calls} calls)`,
    value:
      `${(rss0 / 1024).toFixed(1)} / ${(rss1 / 1024).toFixed(1)} MiB ` +
      `(${(((rss1 - rss0) / rss0) * 100).toFixed(1)}%)`,
    target: 'growth <= 10%',
    pass: (rss1 - rss0) / rss0 <= 0.1,
  });
  rows.push({ name: 'open fds before / after', value: `${fd0} / ${fd1}`, pass: fd1 <= fd0 + 4 });

  // Three rounds of 10,000 new names each: the caches are full after the first, so a leak
  // shows as growth between the first and the last round.
  const DISTINCT_ROUNDS = 3;
  const rssRounds: number[] = [];
  for (let round = 0; round < DISTINCT_ROUNDS; round++) {
    say(`10,000 distinct images against imageCacheSize 1024 (round ${round + 1} of ${DISTINCT_ROUNDS})`);
    for (let i = 0; i < 10_000; i += 50)
      await Promise.all(Array.from({ length: 50 }, (_, j) => viaShim.imageStatus(`distinct/r${round}/img${i + j}:v1`)));
    rssRounds.push(rssKb(pid));
  }
  const fd2 = fds(pid);
  const lastGrowth = (rssRounds.at(-1)! - rssRounds[0]!) / rssRounds[0]!;
  figures.distinct = {
    imagesPerRound: 10_000,
    rounds: DISTINCT_ROUNDS,
    rssKb: rssRounds,
    fds: fd2,
    rssKbBeforeSoak: rss0,
  };
  rows.push({
    name: `RSS after 10k / 20k / 30k distinct images (cache 1024)`,
    value:
      `${rssRounds.map((kb) => (kb / 1024).toFixed(1)).join(' / ')} MiB (before soak ` +
      `${(rss0 / 1024).toFixed(1)}), fds ${fd2}`,
    target: 'flat after the caches fill: <= +10%',
    pass: lastGrowth <= 0.1 && fd2 <= fd0 + 4,
  });

  const machine = `${cpus().length} x ${cpus()[0]?.model.trim()}, Node ${process.version}`;
  figures.machine = machine;
  figures.date = new Date().toISOString();
  const width = Math.max(...rows.map((r) => r.name.length));
  const vw = Math.max(...rows.map((r) => r.value.length));
  let out = `image-cri-shim bench (${machine}, ${figures.date})\n\n`;
  for (const r of rows)
    out +=
      `${r.name.padEnd(width)}  ${r.value.padEnd(vw)}  ` +
      `${r.target ?? ''}${r.pass === undefined ? '' : r.pass ? '  PASS' : '  MISS'}\n`;
  process.stdout.write(out);
  const results_dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(results_dir, { recursive: true });
  const json = JSON.stringify({ figures, rows }, null, 2);
  writeFileSync(join(results_dir, 'latest.json'), json);
  writeFileSync(join(results_dir, `${figures.date}.json`.replace(/:/g, '-')), json);
  writeFileSync(join(results_dir, 'latest.txt'), out);
});
