// Hardening, end to end: what a caller, a registry, a ConfigMap or a file may throw at the
// built executable, on real containerd and registries, small hostile servers on 127.0.0.1 and the test
// API server. Every shim here runs under the systemd unit's heap cap. Each input is counted in
// a tally (inputs tried, crashes, hangs, leaks, data lost) printed at the end.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { EXIT } from '../../src/errors.js';
import { frameHeader, FrameType } from '../../src/h2/frames.js';
import { CriClient } from '../support/cri-client.js';
import { createClusterWorld, type ClusterWorld, type World } from '../support/fixture.js';
import { FlakyRegistry } from '../support/flaky-registry.js';
import { grpcRequest, header, imageRequest, RawH2Client } from '../support/h2-client.js';
import type { FakeKubeApi } from '../support/kube-api.js';
import { freePort, startProc, waitFor } from '../support/procs.js';
import { AS_EXECUTABLE, startShim, type TestShim } from '../support/shim.js';

/**
 * Every shim here runs with a smaller V8 heap than the unit's memory bound gives V8 on a node
 * (a heap limit of 176 MiB here, about 260 MiB there): bounds that hold here hold there.
 */
const HEAP_CAP = '--max-old-space-size=128';

const tally = { inputs: 0, crashes: 0, hangs: 0, leaks: 0, dataLost: 0 };
let w: World;
let api: FakeKubeApi;
let direct: CriClient;
let n = 0;
const running: { shim: TestShim; clients: CriClient[] }[] = [];

let world: ClusterWorld | undefined;

before(async () => {
  world = await createClusterWorld();
  ({ w, api, direct } = world);
});

after(async () => {
  await world?.teardown();
  process.stdout.write(
    `# hardening tally: inputs=${tally.inputs} crashes=${tally.crashes} hangs=${tally.hangs} leaks=${tally.leaks} ` +
      `data_lost=${tally.dataLost}\n`,
  );
});

afterEach(async () => {
  for (const { shim, clients } of running.splice(0)) {
    for (const c of clients) c.close();
    if (shim.proc.child.exitCode !== null || shim.proc.child.signalCode !== null) tally.crashes++;
    if (w.secrets.some((s) => shim.output().includes(s)) || SECRETS.some((s) => shim.output().includes(s)))
      tally.leaks++;
    await shim.stop();
  }
  for (const img of (await direct.listImages()).images) await direct.removeImage(img.id);
});

/** Secrets only the hostile inputs here carry: none may reach any output. */
const SECRETS = ['KUBELET-PULL-SECRET', 'S3CRET-ADDR', '7731990042', 'CM-S3CRET', 'KUBE-TOKEN-LEAK', 'KEY-PW-LEAK'];

function config(dir: string, lines: string[]): string {
  return `${[`shim: ${join(dir, 'shim.sock')}`, `cri: ${w.containerd.socket}`, 'debug: true', ...lines].join('\n')}\n`;
}

async function shimWith(
  lines: (dir: string) => string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ shim: TestShim; cri: CriClient; dir: string }> {
  const dir = join(w.dir, `hard-${++n}`);
  mkdirSync(dir, { recursive: true });
  const shim = await startShim(
    dir,
    config(dir, lines(dir)),
    { ...process.env, HOME: dir, KUBECONFIG: '', NODE_OPTIONS: HEAP_CAP, ...env },
    AS_EXECUTABLE,
  );
  const cri = new CriClient(shim.socket);
  running.push({ shim, clients: [cri] });
  return { shim, cri, dir };
}

/** Runs the CLI to its end (it is expected to refuse to start); its exit code and all it printed. */
function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 20_000,
): Promise<{ code: number | string | null; output: string }> {
  const [program, ...rest] = AS_EXECUTABLE;
  const proc = startProc(program!, [...rest, ...args], {
    env: { ...process.env, KUBECONFIG: '', NODE_OPTIONS: HEAP_CAP, ...env },
  });
  const timer = setTimeout(() => void proc.kill9(), timeoutMs);
  return proc.exited().then((code) => {
    clearTimeout(timer);
    return { code, output: proc.output() };
  });
}

/** One hostile input: counted, bounded in time (a hang fails the test and is counted). */
async function hostile<T>(what: string, fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  tally.inputs++;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          tally.hangs++;
          reject(new Error(`${what}: no answer within ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function noSecretsIn(output: string): void {
  for (const s of [...SECRETS, ...w.secrets]) {
    if (output.includes(s)) tally.leaks++;
    assert.ok(!output.includes(s), 'a credential reached the output');
  }
}

const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
const basic = (header: string) =>
  header.startsWith('Basic ') ? Buffer.from(header.slice(6), 'base64').toString() : header;

describe('security', () => {
  it("never sends a caller's pull secret to another registry (and keeps it for its own)", async () => {
    const front = await FlakyRegistry.start(w.a.host);
    try {
      const { cri } = await shimWith(() => [
        `address: http://${front.host}`,
        `auth: ${w.a.creds}`,
        'fallback: true',
        'probeTimeout: 2s',
      ]);
      // kubelet's imagePullSecret for docker.io; the pull is rewritten to the offline registry.
      const res = await hostile('pull with a caller secret', () =>
        cri.pullImage('app:v1', { username: 'kubelet', password: 'KUBELET-PULL-SECRET' }),
      );
      assert.equal(res.image_ref, w.appId.a);
      // The secret for B, on an image of B that only B has: it goes to B, where it belongs.
      const own = await hostile('pull with the caller secret for its own registry', () =>
        cri.pullImage(`${w.b.host}/team/digested:v1`, { username: 'bob', password: w.b.password }),
      );
      assert.equal(own.image_ref, w.digested.id);
      const seen = front.authorizations.map(basic).join('\n');
      assert.ok(front.authorizations.length > 0);
      if (seen.includes('KUBELET-PULL-SECRET') || seen.includes(w.b.password)) tally.leaks++;
      assert.ok(!seen.includes('KUBELET-PULL-SECRET'), "the caller's docker.io secret reached the offline registry");
      assert.ok(!seen.includes(w.b.password), "B's secret reached the offline registry");
    } finally {
      await front.stop();
    }
  });

  it(
    'never prints a password written into the offline address: it is ignored, as the Go shim ignores it (start, ' +
      '--dry-run, resolve)',
    async () => {
      const dir = join(w.dir, `secret-${++n}`);
      mkdirSync(dir);
      const file = join(dir, 'image-cri-shim.yaml');
      writeFileSync(file, config(dir, [`address: http://alice:S3CRET-ADDR@${w.a.host}`, `auth: ${w.a.creds}`]));
      for (const args of [
        ['--dry-run', '-f', file],
        ['resolve', 'app:v1', '-f', file],
      ]) {
        const { code, output } = await hostile(`a password in the address: ${args[0]}`, () => runCli(args));
        assert.ok(output.includes('credentials in the address'), output);
        noSecretsIn(output);
        assert.ok(code === 0 || code === 1);
      }
      const { shim, cri } = await shimWith(() => [
        `address: http://alice:S3CRET-ADDR@${w.a.host}`,
        `auth: ${w.a.creds}`,
      ]);
      await hostile('start with a password in the address', async () =>
        assert.equal((await cri.pullImage('app:v1')).image_ref, w.appId.a),
      );
      noSecretsIn(shim.output());
    },
  );

  it(
    'refuses a file with a numeric password: names the file and key, never the secret (start, --dry-run, resolve, ' +
      'reload)',
    async () => {
      const dir = join(w.dir, `secret-${++n}`);
      mkdirSync(dir);
      const file = join(dir, 'image-cri-shim.yaml');
      const text = 'address: http://127.0.0.1:1\nauth:\n  username: u\n  password: 7731990042';
      writeFileSync(file, config(dir, [text]));
      // Refused as a bad configuration; --dry-run reports it in its table and exits with its verdict.
      for (const [args, exit] of [
        [['-f', file], EXIT.config],
        [['--dry-run', '-f', file], EXIT.failed],
        [['resolve', 'nginx', '-f', file], EXIT.config],
      ] as const) {
        const { code, output } = await hostile(`a numeric password: ${args[0]}`, () => runCli([...args]));
        assert.equal(code, exit, output);
        assert.ok(output.includes(file), output);
        noSecretsIn(output);
      }
      // On reload: the running configuration stays, and the error hides the secret too.
      const { shim, cri } = await shimWith(() => [`address: http://${w.a.host}`, `auth: ${w.a.creds}`]);
      const from = shim.output().length;
      writeFileSync(shim.configFile, config(dir, [text]));
      process.kill(shim.proc.pid, 'SIGHUP');
      await shim.waitForLog('keeping the running configuration', 10_000, from);
      noSecretsIn(shim.output());
      assert.equal((await cri.pullImage('app:v1')).image_ref, w.appId.a);
    },
  );

  it('hides a password written into a registry address in the ConfigMap, and does not write it', async () => {
    const { shim, cri } = await shimWith(
      () => [`address: http://${w.a.host}`, `auth: ${w.a.creds}`, 'reloadInterval: 1h'],
      { KUBECONFIG: api.kubeconfig },
    );
    const from = shim.output().length;
    await hostile('ConfigMap address with a password', async () => {
      api.put('image-cri-shim', {
        'registries.yaml': 'registries:\n  - address: http://eve:CM-S3CRET@127.0.0.1:1\n    priority: 10\n',
      });
      await shim.waitForLog('reloaded shim auth configuration', 10_000, from);
    });
    api.delete('image-cri-shim');
    noSecretsIn(shim.output());
    assert.ok(!readFileSync(shim.configFile, 'utf8').includes('CM-S3CRET'));
    assert.equal((await cri.pullImage('app:v1')).image_ref, w.appId.a);
  });

  it('creates the socket 0660 under umask 000: never more open, not even for a moment', async () => {
    const dir = join(w.dir, `umask-${++n}`);
    mkdirSync(dir);
    const socket = join(dir, 'shim.sock');
    const file = join(dir, 'image-cri-shim.yaml');
    writeFileSync(file, config(dir, [`address: http://${w.a.host}`]));
    // A watcher polling as fast as it can from the moment the path appears.
    const watcher = spawn(process.execPath, [
      '-e',
      `
      const fs = require('fs'); const seen = new Set(); const end = Date.now() + 20000; let since = 0;
      while (Date.now() < end) {
        let st; try { st = fs.lstatSync(${JSON.stringify(socket)}); } catch { continue; }
        seen.add((st.mode & 0o777).toString(8)); if (!since) since = Date.now(); if (Date.now() - since > 300) break;
      }
      process.stdout.write([...seen].join(','));`,
    ]);
    let modes = '';
    watcher.stdout.on('data', (d: Buffer) => (modes += d));
    const shim = startProc('/bin/sh', ['-c', `umask 000; exec ${AS_EXECUTABLE.join(' ')} -f ${file}`], {
      env: { ...process.env, KUBECONFIG: '', HOME: dir },
    });
    await hostile('start under umask 000', () => new Promise((resolve) => watcher.once('exit', resolve)));
    await shim.stop();
    assert.equal(modes, '660', `modes seen: ${modes}`);
  });
});

describe('bounds', () => {
  it('survives a token server answering 50 MB, and pulls from the next registry', async () => {
    const big = http.createServer((req, res) => {
      if (req.url!.startsWith('/token'))
        res.writeHead(200, { 'content-type': 'application/json' }).end(`{"token":"${'t'.repeat(50 * 1024 * 1024)}"}`);
      else
        res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${req.headers.host}/token",service="x"` }).end();
    });
    await new Promise<void>((r) => big.listen(0, '127.0.0.1', r));
    try {
      const host = `127.0.0.1:${(big.address() as net.AddressInfo).port}`;
      const { shim, cri } = await shimWith(() => [
        `address: http://${w.a.host}`,
        `auth: ${w.a.creds}`,
        'fallback: false',
        'registries:',
        `  - address: http://${host}`,
        '    auth: u:p',
        '    priority: 2000',
      ]);
      const res = await hostile('50 MB token', () => cri.pullImage('app:v1'));
      assert.equal(res.image_ref, w.appId.a);
      await shim.waitForLog('token answer larger than 64 KiB');
    } finally {
      big.closeAllConnections();
      big.close();
    }
  });

  it('refuses 16 MiB image names at once, six at a time, naming the limit', async () => {
    const { shim, cri } = await shimWith(() => [`address: http://${w.a.host}`, `auth: ${w.a.creds}`]);
    const name = 'x'.repeat(16 * 1024 * 1024 - 64);
    const results = await hostile('6 x 16 MiB names', () =>
      Promise.allSettled(
        [...Array(3)].flatMap(() => [cri.pullImage(name, undefined, {}, 60_000), cri.removeImage(name)]),
      ),
    );
    for (const r of results) {
      assert.equal(r.status, 'rejected');
      const e = (r as PromiseRejectedResult).reason as grpc.ServiceError;
      assert.equal(e.code, grpc.status.INVALID_ARGUMENT, e.message);
      assert.match(e.details, /limit is 4096/);
    }
    assert.equal((await cri.version()).runtime_name, 'containerd');
    assert.equal(shim.proc.child.exitCode, null);
  });

  it('holds at most its limit of calls: the rest are refused at once, and every socket is given back', async () => {
    const { shim, cri } = await shimWith(() => [`address: http://${w.a.host}`]);
    await cri.version();
    const fd0 = fds(shim.proc.pid);
    const clients = await Promise.all([0, 1, 2].map(() => RawH2Client.connect(shim.socket)));
    // Requests that never end: each holds a call open (relayed, waiting for its body).
    const ids = clients.map((c) =>
      Array.from({ length: 999 }, () =>
        c.request(grpcRequest('/runtime.v1.RuntimeService/Version', 'localhost'), { keepOpen: true }),
      ),
    );
    const refused = await hostile('3,000 held calls', async () => {
      let count = 0;
      await waitFor(
        'refusals',
        () => {
          count = clients.reduce(
            (sum, c, i) =>
              sum +
              ids[i]!.filter((id) =>
                c.stream(id)?.headers.some((h) => header(h, 'grpc-status') === String(grpc.status.RESOURCE_EXHAUSTED)),
              ).length,
            0,
          );
          return count >= 3 * 999 - 2048;
        },
        20_000,
      );
      return count;
    });
    assert.ok(refused >= 3 * 999 - 2048, `${refused} refused`);
    assert.equal(
      (await new CriClient(shim.socket).version().catch((e: grpc.ServiceError) => e.code)) !== undefined,
      true,
    );
    for (const c of clients) c.close();
    await waitFor('sockets given back', () => fds(shim.proc.pid) <= fd0 + 2, 10_000);
  });

  it('fits the worst case of every bound at once in a V8 heap smaller than the unit gives', async () => {
    const front = await FlakyRegistry.start(w.a.host);
    front.mode = 'lagging'; // pulls wait on the probe, holding their requests
    const { shim, cri } = await shimWith(() => [
      `address: http://${front.host}`,
      `auth: ${w.a.creds}`,
      'probeTimeout: 3s',
    ]);
    let peak = 0;
    const sampler = setInterval(
      () =>
        (peak = Math.max(
          peak,
          Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${shim.proc.pid}/status`, 'utf8'))![1]),
        )),
      50,
    );
    try {
      const clients = await Promise.all([0, 1].map(() => RawH2Client.connect(shim.socket)));
      // About 2,000 calls held open (the cap), and four 16 MiB pulls (the held-bytes budget is 48 MiB).
      for (const c of clients) {
        for (let i = 0; i < 999; i++)
          c.request(grpcRequest('/runtime.v1.RuntimeService/Version', 'localhost'), { keepOpen: true });
      }
      const huge = { note: 'x'.repeat(16 * 1024 * 1024 - 1024) };
      const pulls = await hostile('every bound at once', () =>
        Promise.allSettled([0, 1, 2, 3].map(() => cri.pullImage('app:v1', undefined, huge, 60_000))),
      );
      const codes = pulls.map((p) => (p.status === 'fulfilled' ? 0 : (p.reason as grpc.ServiceError).code));
      assert.ok(codes.includes(0), `codes ${codes}`);
      assert.ok(
        codes.every((c) => c === 0 || c === grpc.status.RESOURCE_EXHAUSTED),
        `codes ${codes}`,
      );
      for (const c of clients) c.close();
      assert.equal((await cri.version()).runtime_name, 'containerd');
      process.stdout.write(
        `# worst case of every bound under ${HEAP_CAP}: peak RSS ${(peak / 1024).toFixed(0)} MiB, pulls ` +
          `${codes.join(',')}\n`,
      );
    } finally {
      clearInterval(sampler);
      await front.stop();
    }
  });

  it('keeps serving on its file when the ConfigMap lists 50,000 registries, also across a restart', async () => {
    const many = Array.from({ length: 50_000 }, (_, i) => `- address: r${i}\n`).join('');
    api.put('image-cri-shim', { 'registries.yaml': `registries:\n${many}` });
    try {
      const { shim, cri } = await hostile('50,000 registries in the ConfigMap', () =>
        shimWith(() => [`address: http://${w.a.host}`, `auth: ${w.a.creds}`], { KUBECONFIG: api.kubeconfig }),
      );
      await shim.waitForLog('larger than 256 KiB; ignored');
      assert.equal((await cri.pullImage('app:v1')).image_ref, w.appId.a);
      const file = readFileSync(shim.configFile, 'utf8');
      assert.ok(!file.includes('r49999'));
      // Restarted on the same file, with the ConfigMap still there: it starts, and serves as before.
      running.splice(
        running.findIndex((r) => r.shim === shim),
        1,
      );
      cri.close();
      assert.equal(await shim.stop(), 0);
      const again = await hostile('50,000 registries in the ConfigMap, after a restart', () =>
        startShim(
          dirname(shim.configFile),
          file,
          { ...process.env, KUBECONFIG: api.kubeconfig, NODE_OPTIONS: HEAP_CAP },
          AS_EXECUTABLE,
        ),
      );
      const cri2 = new CriClient(again.socket);
      running.push({ shim: again, clients: [cri2] });
      await again.waitForLog('larger than 256 KiB; ignored');
      assert.equal((await cri2.pullImage('app:v1')).image_ref, w.appId.a);
      assert.equal(readFileSync(again.configFile, 'utf8'), file, 'the file is as the first shim left it');
    } finally {
      api.delete('image-cri-shim');
    }
  });

  /** Writes a config listing `count` registries. */
  const withRegistries = (count: number) => (file: string, dir: string) =>
    writeFileSync(
      file,
      config(dir, [
        `address: http://${w.a.host}`,
        'registries:',
        ...Array.from({ length: count }, (_, i) => `  - address: r${i}.io`),
      ]),
    );
  const badFiles: [string, (file: string, dir: string) => void, RegExp][] = [
    ['100,000 registries', withRegistries(100_000), /larger than 256 KiB/],
    ['1,000 registries', withRegistries(1_000), /registries: 1000 entries; the limit is 256/],
    [
      'a 50 MB file',
      (file, dir) =>
        writeFileSync(file, config(dir, [`address: http://${w.a.host}`, `# ${'x'.repeat(50 * 1024 * 1024)}`])),
      /larger than 256 KiB/,
    ],
    ['a symlink to /dev/zero', (file) => execFileSync('ln', ['-s', '/dev/zero', file]), /not a regular file/],
    ['a FIFO', (file) => execFileSync('mkfifo', [file]), /not a regular file/],
  ];
  for (const [what, make, message] of badFiles) {
    it(`refuses to start on ${what}, at once and with a clear error`, async () => {
      const dir = join(w.dir, `bad-${++n}`);
      mkdirSync(dir);
      const file = join(dir, 'image-cri-shim.yaml');
      make(file, dir);
      const started = Date.now();
      const { code, output } = await hostile(what, () => runCli(['-f', file]));
      assert.equal(code, EXIT.config, output);
      assert.match(output, /ERROR \[ERR_CONFIG\] /);
      assert.match(output, message);
      assert.ok(!/\n\s+at /.test(output), 'no stack trace: a refusal, not a crash');
      assert.ok(Date.now() - started < 15_000);
    });
  }

  it('keeps the last good config when the file becomes a FIFO, and takes the next good one', async () => {
    const { shim, cri } = await shimWith(() => [`address: http://${w.a.host}`, `auth: ${w.a.creds}`]);
    const good = readFileSync(shim.configFile, 'utf8');
    unlinkSync(shim.configFile);
    execFileSync('mkfifo', [shim.configFile]);
    let from = shim.output().length;
    process.kill(shim.proc.pid, 'SIGHUP');
    await hostile('config became a FIFO', () => shim.waitForLog('not a regular file', 10_000, from));
    assert.equal((await cri.pullImage('app:v1')).image_ref, w.appId.a);
    unlinkSync(shim.configFile);
    writeFileSync(shim.configFile, good.replace('debug: true', 'debug: false'));
    from = shim.output().length;
    process.kill(shim.proc.pid, 'SIGHUP');
    await shim.waitForLog('reloaded shim auth configuration', 10_000, from);
  });
});

describe('hangs and faults', () => {
  it('answers a PullImage whose request never completes by its deadline', async () => {
    const { shim } = await shimWith(() => [`address: http://${w.a.host}`]);
    const client = await RawH2Client.connect(shim.socket);
    const started = Date.now();
    const id = client.request(
      grpcRequest('/runtime.v1.ImageService/PullImage', 'localhost', [['grpc-timeout', '2S']]),
      { body: Buffer.from([0, 0, 0, 0, 100, 0x0a]), keepOpen: true },
    );
    const r = await hostile('a request that never completes', () => client.result(id, 20_000));
    assert.equal(header(r.headers.at(-1), 'grpc-status'), String(grpc.status.DEADLINE_EXCEEDED));
    assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
    client.close();
  });

  const badRegistries: [string, 'html' | 'headRefusedGetHangs'][] = [
    ['answers 200 text/html to everything', 'html'],
    ['refuses HEAD and never ends its GET', 'headRefusedGetHangs'],
  ];
  for (const [what, mode] of badRegistries) {
    it(`does not take a registry that ${what} for one that has the image`, async () => {
      const front = await FlakyRegistry.start(w.b.host);
      front.mode = mode;
      try {
        const { shim, cri } = await shimWith(() => [
          `address: http://${w.a.host}`,
          `auth: ${w.a.creds}`,
          'probeTimeout: 1s',
          'fallback: false',
          'registries:',
          `  - address: http://${front.host}`,
          '    priority: 2000',
        ]);
        const res = await hostile(what, () => cri.pullImage('app:v1', undefined, {}, 20_000));
        assert.equal(res.image_ref, w.appId.a);
        // Decided so, not saved by the pull's fallback after a failed pull from the bad one.
        assert.match(shim.output(), new RegExp(`priority match: image=app:v1 .*matched_registry=${w.a.host}`));
      } finally {
        await front.stop();
      }
    });
  }

  it('makes no pull for a caller that left while the registries were asked', async () => {
    const { shim } = await shimWith(() => [
      `address: http://${w.a.host}`,
      `auth: ${w.a.creds}`,
      'probeTimeout: 2s',
      'fallback: false',
      'registries:',
      `  - address: http://${w.hangHost}`,
      '    priority: 2000',
    ]);
    // kubelet sends pulls with no deadline and cancels them with RST_STREAM.
    const client = await RawH2Client.connect(shim.socket);
    const id = client.request(grpcRequest('/runtime.v1.ImageService/PullImage', 'localhost'), {
      body: imageRequest('app:v1'),
    });
    await new Promise((r) => setTimeout(r, 300));
    const rst = Buffer.alloc(4);
    rst.writeUInt32BE(0x8); // CANCEL
    await hostile('caller leaves mid-probe', async () =>
      client.write(Buffer.concat([frameHeader(4, FrameType.RST_STREAM, 0, id), rst])),
    );
    await shim.waitForLog('priority match: image=app:v1', 10_000);
    client.close();
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual((await direct.listImages()).images, [], 'the runtime was asked to pull for nobody');
  });

  it("falls back to the next registry when the runtime's error is over 64 KiB", async () => {
    const front = await FlakyRegistry.start(w.a.host);
    front.mode = 'hugePullError';
    try {
      const { cri } = await shimWith(() => [
        `address: http://${w.b.host}`,
        `auth: ${w.b.creds}`,
        'fallback: false',
        'registries:',
        `  - address: http://${front.host}`,
        `    auth: ${w.a.creds}`,
        '    priority: 2000',
      ]);
      w.containerd.allowHttpRegistry(front.host);
      const res = await hostile('a 100 KiB runtime error', () => cri.pullImage('app:v1'));
      assert.equal(res.image_ref, w.appId.b);
    } finally {
      await front.stop();
    }
  });

  it('passes a deadline of 99999999 minutes on as a valid grpc-timeout', async () => {
    const { shim } = await shimWith(() => [`address: http://${w.a.host}`, `auth: ${w.a.creds}`]);
    const client = await RawH2Client.connect(shim.socket);
    const body = imageRequest('app:v1');
    const r = await hostile('grpc-timeout 99999999M', () =>
      client.result(
        client.request(
          grpcRequest('/runtime.v1.ImageService/PullImage', 'localhost', [['grpc-timeout', '99999999M']]),
          { body },
        ),
        60_000,
      ),
    );
    assert.equal(header(r.headers.at(-1), 'grpc-status'), '0', header(r.headers.at(-1), 'grpc-message'));
    client.close();
  });

  for (const authority of ['localhost', '/var/run/image-cri-shim.sock']) {
    it(
      `gives back every socket after 2,000 streams reset and a half-close (:authority ${authority}); idle ` +
        `connections are closed`,
      async () => {
        const { shim, cri } = await shimWith(() => [`address: http://${w.a.host}`, 'idleTimeout: 2s']);
        await cri.version();
        const fd0 = fds(shim.proc.pid);
        const clients: RawH2Client[] = [];
        for (let round = 0; round < 3; round++) {
          const client = await RawH2Client.connect(shim.socket);
          clients.push(client);
          await hostile('2,000 RST_STREAMs', async () => {
            for (let i = 0; i < 2000; i++) {
              const id = client.request(grpcRequest('/runtime.v1.RuntimeService/Version', authority), {
                keepOpen: true,
              });
              const rst = Buffer.alloc(4);
              rst.writeUInt32BE(0x8); // CANCEL
              client.write(Buffer.concat([frameHeader(4, FrameType.RST_STREAM, 0, id), rst]));
            }
          });
          client.socket.end(); // the client is done writing; its side stays open to read
        }
        // A connection that only says hello, and one that does nothing at all.
        clients.push(await RawH2Client.connect(shim.socket));
        const silent = net.connect(shim.socket);
        silent.on('error', () => {});
        const settled = await waitFor('sockets given back', () => fds(shim.proc.pid) <= fd0, 15_000).then(
          () => true,
          () => false,
        );
        if (!settled) tally.leaks++;
        assert.ok(settled, `fds ${fd0} -> ${fds(shim.proc.pid)}`);
        await waitFor('clients closed', () => clients.every((c) => c.closed), 5000);
        silent.destroy();
        assert.equal((await cri.version()).runtime_name, 'containerd', 'a closed idle connection is redialled');
      },
    );
  }
});

describe('the socket path', () => {
  it('refuses to start when "shim" names a regular file, and leaves the file alone', async () => {
    const dir = join(w.dir, `file-${++n}`);
    mkdirSync(dir);
    const precious = join(dir, 'shim.sock');
    writeFileSync(precious, "an operator's file\n");
    const file = join(dir, 'image-cri-shim.yaml');
    writeFileSync(file, config(dir, [`address: http://${w.a.host}`]));
    const { code, output } = await hostile('"shim" is a regular file', () => runCli(['-f', file]));
    assert.equal(code, EXIT.shimSocket);
    assert.match(output, /ERROR \[ERR_SHIM_SOCKET\] .*exists and is not a socket/);
    const intact = readFileSync(precious, 'utf8') === "an operator's file\n";
    if (!intact) tally.dataLost++;
    assert.ok(intact);
  });

  it('a stopping shim leaves alone the socket a newer shim made at its path', async () => {
    const { shim: first, dir } = await shimWith(() => [`address: http://${w.a.host}`]);
    unlinkSync(first.socket); // lost (a clean-up script, an operator)
    mkdirSync(join(dir, 'newer'), { recursive: true });
    const newer = await startShim(join(dir, 'newer'), config(dir, [`address: http://${w.a.host}`]), {
      ...process.env,
      KUBECONFIG: '',
    });
    running.push({ shim: newer, clients: [] });
    await hostile('older shim stops', () => first.stop());
    running.splice(
      running.findIndex((r) => r.shim === first),
      1,
    ); // stopped on purpose, not a crash
    const kept = lstatSync(first.socket, { throwIfNoEntry: false })?.isSocket() ?? false;
    if (!kept) tally.dataLost++;
    assert.ok(kept, "the newer shim's socket was removed");
    assert.equal((await new CriClient(first.socket).version()).runtime_name, 'containerd');
  });
});

describe('one-shot commands', () => {
  it('--dry-run against a runtime that never answers prints its verdict and exits 1', async () => {
    const dir = join(w.dir, `dry-${++n}`);
    mkdirSync(dir);
    const silent = net.createServer(() => {});
    const socket = join(dir, 'silent.sock');
    await new Promise<void>((r) => silent.listen(socket, r));
    try {
      const file = join(dir, 'image-cri-shim.yaml');
      writeFileSync(
        file,
        `shim: ${join(dir, 'shim.sock')}\ncri: ${socket}\naddress: http://${w.a.host}\nauth: ${w.a.creds}\n`,
      );
      const { code, output } = await hostile('--dry-run, silent runtime', () =>
        runCli(['--dry-run', '-f', file], { HOME: dir }),
      );
      assert.match(output, /some checks failed/);
      assert.equal(code, 1);
    } finally {
      silent.close();
    }
  });
});

describe('round 2: the HTTP/2 filter, pod Events, cluster credentials and runtime settings', () => {
  /** A metric's value from the shim's /metrics. */
  const metric = async (port: number, series: string) => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return Number(new RegExp(`^${series.replace(/[{}.]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  };
  /** A kubeconfig for the test API server whose user (or cluster, with `cluster`) lines are `lines`. */
  const kubeconfigWith = (name: string, user: string, trust?: string) => api.kubeconfigWith(user, name, trust);
  const fifo = (dir: string, name: string) => {
    const path = join(dir, name);
    execFileSync('mkfifo', [path]);
    return path;
  };

  it('refuses a header block whose table size update is 150 continuation octets (NaN), and keeps serving', async () => {
    const { shim, cri } = await shimWith(() => [`address: http://${w.a.host}`]);
    await hostile('HPACK integer 0x3f + 150 x 0x80 + 0x00', async () => {
      const client = await RawH2Client.connect(shim.socket);
      const update = Buffer.concat([Buffer.from([0x3f]), Buffer.alloc(150, 0x80), Buffer.from([0x00])]);
      const request = client.encoder.encode(grpcRequest('/runtime.v1.RuntimeService/Version', shim.socket));
      client.write(client.headersFrames(1, Buffer.concat([update, request]), {}, true));
      await client.until(() => client.goaway !== undefined, 'GOAWAY');
      assert.equal(client.goaway!.code, 9, 'COMPRESSION_ERROR');
      client.close();
    });
    await shim.waitForLog('http2: connection refused: header block of stream 1: integer too large');
    assert.equal((await cri.version()).runtime_name, 'containerd');
  });

  it('keeps no pod name longer than Kubernetes allows: 40 pulls for 2 MiB names are answered, no Event', async () => {
    const port = await freePort();
    const { shim, cri } = await shimWith(
      () => [`address: http://${w.a.host}`, `auth: ${w.a.creds}`, `metricsAddress: 127.0.0.1:${port}`],
      { KUBECONFIG: api.kubeconfig },
    );
    const events = api.events().length;
    await hostile('40 pulls for pods with 2 MiB names', async () => {
      for (let i = 0; i < 40; i++) {
        const name = `${i}-${'p'.repeat(2 * 1024 * 1024)}`;
        const pod = { name, namespace: 'default', uid: `uid-${i}` };
        assert.equal((await cri.pullImage('app:v1', undefined, {}, 60_000, pod)).image_ref, w.appId.a);
      }
    });
    assert.equal(await metric(port, 'image_cri_shim_pod_events_total{outcome="skipped"}'), 40);
    assert.equal(api.events().length, events, 'no Event for them');
    assert.equal(shim.proc.child.exitCode, null);
  });

  const credentialFiles: [string, (dir: string) => string, string][] = [
    ['$KUBECONFIG is a FIFO', (dir) => fifo(dir, 'kubeconfig'), 'not a regular file'],
    [
      'tokenFile is a FIFO',
      (dir) => kubeconfigWith('kc-token-fifo', `    tokenFile: ${fifo(dir, 'token')}\n`),
      'not a regular file',
    ],
    [
      'certificate-authority is /dev/zero',
      () => kubeconfigWith('kc-ca-zero', `    token: ${api.token}\n`, 'certificate-authority: /dev/zero'),
      '/dev/zero: not a regular file',
    ],
    [
      'client-key is /dev/urandom',
      () => kubeconfigWith('kc-key-urandom', '    client-certificate: /dev/urandom\n    client-key: /dev/urandom\n'),
      '/dev/urandom: not a regular file',
    ],
  ];
  for (const [what, kubeconfig, reason] of credentialFiles) {
    it(`serves at once and stops on SIGTERM when ${what}, with a warning naming the file`, async () => {
      const dir = join(w.dir, `kc-${++n}`);
      mkdirSync(dir);
      const { shim, cri } = await shimWith(() => [`address: http://${w.a.host}`], { KUBECONFIG: kubeconfig(dir) });
      await hostile(what, async () => {
        assert.equal((await cri.version(5000)).runtime_name, 'containerd');
        await shim.waitForLog(new RegExp(`WARN .*kube: cannot use the cluster credentials in .*${reason}`), 5000);
      });
      running.splice(
        running.findIndex((r) => r.shim === shim),
        1,
      );
      cri.close();
      const started = Date.now();
      assert.equal(await hostile(`SIGTERM when ${what}`, () => shim.stop(), 10_000), 0);
      assert.ok(Date.now() - started < 10_000);
    });
  }

  it('reads a token file again at most once a minute, not on every request', async () => {
    const dir = join(w.dir, `token-${++n}`);
    mkdirSync(dir);
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, api.token);
    const kubeconfig = kubeconfigWith('kc-token-file', `    tokenFile: ${tokenFile}\n`);
    const { shim, cri } = await shimWith(
      () => [`address: http://${w.a.host}`, `auth: ${w.a.creds}`, 'reloadInterval: 1h'],
      { KUBECONFIG: kubeconfig },
    );
    await shim.waitForLog('configmap kube-system/image-cri-shim not found', 10_000);
    // The file is gone: a request within the minute (an Event's POST) still carries the token read at start.
    unlinkSync(tokenFile);
    api.expireEvents();
    const pod = { name: 'token-pod', namespace: 'default', uid: 'uid-token-pod' };
    await hostile('token file removed', () => cri.pullImage('app:v1', undefined, {}, 20_000, pod));
    await waitFor('the Event', () => api.events().length === 1, 10_000);
    assert.doesNotMatch(shim.output(), /token file/);
  });

  it('prints no bearer token from a kubeconfig whose token line is not YAML (--dry-run, debug log)', async () => {
    const kubeconfig = kubeconfigWith('kc-bad-yaml', '    token: KUBE-TOKEN-LEAK: x\n');
    const dir = join(w.dir, `badyaml-${++n}`);
    mkdirSync(dir);
    const file = join(dir, 'image-cri-shim.yaml');
    writeFileSync(file, config(dir, [`address: http://${w.a.host}`]));
    const dry = await hostile('kubeconfig token line not YAML: --dry-run', () =>
      runCli(['--dry-run', '-f', file], { KUBECONFIG: kubeconfig }),
    );
    assert.match(dry.output, /invalid YAML at line \d+/);
    noSecretsIn(dry.output);
    const { shim } = await shimWith(() => [`address: http://${w.a.host}`], { KUBECONFIG: kubeconfig });
    await hostile('kubeconfig token line not YAML: the shim', () =>
      shim.waitForLog(/kube: cannot use the cluster credentials in .*invalid YAML at line \d+/, 10_000),
    );
    noSecretsIn(shim.output());
  });

  it("repeats no password from a malformed Secret entry's key", async () => {
    const { shim, cri } = await shimWith(() => [`address: http://${w.a.host}`, `auth: ${w.a.creds}`], {
      KUBECONFIG: api.kubeconfig,
    });
    await hostile('Secret key with user:password@', async () => {
      api.putSecret('image-cri-shim-auth', {
        '.dockerconfigjson': JSON.stringify({ auths: { 'http://admin:KEY-PW-LEAK@127.0.0.1:1': { auth: '%%%' } } }),
      });
      await shim.waitForLog(/auths\["http:\/\/\*\*\*@127\.0\.0\.1:1"\]\.auth: not base64/, 10_000);
    });
    api.delete('image-cri-shim-auth', 'secrets');
    noSecretsIn(shim.output());
    assert.equal((await cri.pullImage('app:v1')).image_ref, w.appId.a);
  });

  const runtimeFiles: [string, (dir: string, host: string) => string[]][] = [
    [
      'a hosts.toml whose ca is a FIFO',
      (dir, host) => {
        mkdirSync(join(dir, 'certs.d', host), { recursive: true });
        writeFileSync(
          join(dir, 'certs.d', host, 'hosts.toml'),
          `server = "https://${host}"\n[host."https://${host}"]\n  ca = "${fifo(dir, 'ca.pem')}"\n`,
        );
        return [`hostsDir: ${join(dir, 'certs.d')}`, 'registries:', `  - { address: "${host}", priority: 2000 }`];
      },
    ],
    [
      'a hosts.toml whose ca is /dev/zero',
      (dir, host) => {
        mkdirSync(join(dir, 'certs.d', host), { recursive: true });
        writeFileSync(
          join(dir, 'certs.d', host, 'hosts.toml'),
          `server = "https://${host}"\n[host."https://${host}"]\n  ca = "/dev/zero"\n`,
        );
        return [`hostsDir: ${join(dir, 'certs.d')}`, 'registries:', `  - { address: "${host}", priority: 2000 }`];
      },
    ],
    [
      'a caFile that is /dev/zero',
      (_dir, host) => ['registries:', `  - { address: "https://${host}", priority: 2000, caFile: /dev/zero }`],
    ],
    [
      'a hosts.toml that is a FIFO',
      (dir, host) => {
        mkdirSync(join(dir, 'certs.d', host), { recursive: true });
        fifo(join(dir, 'certs.d', host), 'hosts.toml');
        return [`hostsDir: ${join(dir, 'certs.d')}`, 'registries:', `  - { address: "${host}", priority: 2000 }`];
      },
    ],
  ];
  for (const [what, lines] of runtimeFiles) {
    it(`keeps every call answered when ${what}: the pull goes to the next registry`, async () => {
      const { shim, cri } = await shimWith((dir) => [
        `address: http://${w.a.host}`,
        `auth: ${w.a.creds}`,
        'probeTimeout: 2s',
        ...lines(dir, w.b.host),
      ]);
      await hostile(what, async () => {
        const pulled = cri.pullImage('app:v1', undefined, {}, 20_000);
        assert.equal((await cri.version(3000)).runtime_name, 'containerd', 'a relayed call meanwhile');
        assert.equal((await pulled).image_ref, w.appId.a);
      });
      assert.match(shim.output(), /not a regular file/);
    });
  }

  it('closes connections that send no HTTP/2 preface: 300 of them do not keep a real client out', async () => {
    const { shim, cri } = await shimWith(() => [`address: http://${w.a.host}`]);
    const silent: net.Socket[] = [];
    let closed = 0;
    try {
      await hostile('300 connections that never send a preface', async () => {
        for (let i = 0; i < 300; i++) {
          const socket = net.connect(shim.socket);
          socket.on('error', () => {});
          socket.on('close', () => closed++);
          socket.resume();
          silent.push(socket);
        }
        await waitFor('all connected', () => silent.every((s) => !s.connecting), 10_000);
        assert.equal((await cri.version(5000)).runtime_name, 'containerd');
      });
      await waitFor('silent connections closed', () => closed === silent.length, 15_000);
      assert.match(shim.output(), /no HTTP\/2 preface within 5000 ms/);
    } finally {
      for (const s of silent) s.destroy();
    }
  });

  it('sends Events for a burst of 400 pods at a bounded rate, counting what it folds or drops', async () => {
    const port = await freePort();
    const { cri } = await shimWith(
      () => [`address: http://${w.a.host}`, `auth: ${w.a.creds}`, `metricsAddress: 127.0.0.1:${port}`],
      { KUBECONFIG: api.kubeconfig },
    );
    api.expireEvents();
    const started = Date.now();
    await hostile('Event burst for 400 distinct pods', async () => {
      for (let i = 0; i < 400; i += 50)
        await Promise.all(
          Array.from({ length: 50 }, (_, j) =>
            cri.pullImage('app:v1', undefined, {}, 60_000, {
              name: `burst-${i + j}`,
              namespace: 'default',
              uid: `u-${i + j}`,
            }),
          ),
        );
    });
    await new Promise((r) => setTimeout(r, 1000));
    const seconds = (Date.now() - started) / 1000;
    const created = api.events().length;
    assert.ok(created <= 25 + 5 * seconds + 2, `${created} Events in ${seconds.toFixed(1)} s`);
    const dropped = await metric(port, 'image_cri_shim_pod_events_total{outcome="dropped"}');
    assert.ok(dropped > 0, 'what the queue could not hold is counted');
  });
});
