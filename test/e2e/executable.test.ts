// The single executable (npm run package), as it is installed on a node: copied alone into an
// empty directory and run with a PATH that has no node, against real containerd and a real
// password-protected registry: start, a rewritten pull, a SIGHUP reload, --dry-run, resolve,
// --version, metrics, SIGTERM; and with a cluster, the Secret's credentials and a pod Event.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { TestContainerd } from '../support/containerd.js';
import { CriClient } from '../support/cri-client.js';
import { FakeKubeApi } from '../support/kube-api.js';
import { freePort, startProc, tempDir, waitFor, type Proc } from '../support/procs.js';
import type { TestRegistry } from '../support/registry.js';
import { hostTarget, pinnedNode } from '../../scripts/node-release.js';
import { unitNodeOptions } from '../../scripts/unit.js';
import { crictlOk } from '../support/crictl.js';
import { type AppWorld, createAppWorld } from '../support/fixture.js';

const BUILT = fileURLToPath(new URL('../../image-cri-shim', import.meta.url));
/** What went into it: the bundles, the code caches, and which NODE_OPTIONS each cache is for. */
const SEA_CONFIG = fileURLToPath(new URL(`../../sea/sea-config-${hostTarget()}.json`, import.meta.url));
const BUNDLE_JS = fileURLToPath(new URL('../../scripts/sea/bundle.js', import.meta.url));
const VERSION = (
  JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as {
    version: string;
  }
).version;

const tmp = tempDir('exe');
const node = join(tmp.path, 'node'); // the "node": an empty directory holding only the executable
const exe = join(node, 'image-cri-shim');
/** What a node without Node.js has: no node on PATH, nothing from this checkout. */
const bareEnv = (home: string) => ({
  PATH:
    '/usr/sbin:/usr/bin:/sbin:/bin'
      .split(':')
      .filter((d) => !existsSync(join(d, 'node')))
      .join(':') || '/nonexistent',
  HOME: home,
});
let world: AppWorld;
let containerd: TestContainerd;
let registry: TestRegistry;
let appId: string;

before(async () => {
  assert.ok(existsSync(BUILT), `${BUILT} is missing: npm test builds it with npm run package`);
  mkdirSync(node);
  copyFileSync(BUILT, exe);
  world = await createAppWorld(tmp.path, 'xena', 'xena-secret-pass', 'pulled by the single executable');
  ({ containerd, registry, appId } = world);
});

after(async () => {
  await world?.teardown();
  tmp.remove();
});

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | string | null; out: string }> {
  const proc = startProc(exe, args, { env: { ...bareEnv(node), ...env }, cwd: node });
  return proc.exited().then((code) => ({ code, out: proc.output() }));
}

describe('the single executable, alone on a node without Node.js', () => {
  it('has no node on its PATH', () =>
    assert.ok(
      bareEnv(node)
        .PATH.split(':')
        .every((d) => !existsSync(join(d, 'node'))),
    ));

  it("carries V8 code caches accepted with no NODE_OPTIONS and with the systemd unit's", () => {
    const { assets } = JSON.parse(readFileSync(SEA_CONFIG, 'utf8')) as { assets: Record<string, string> };
    const caches = Object.entries(assets).filter(([key]) => key.startsWith('code-cache:'));
    assert.deepEqual(
      caches.map(([key]) => key).sort(),
      [...new Set(['code-cache:', `code-cache:${unitNodeOptions()}`])].sort(),
    );
    for (const [key, file] of caches) {
      const check =
        `import { readFileSync } from 'node:fs'; import { ASSET, compileCommonJs } from ${JSON.stringify(BUNDLE_JS)};` +
        `const source = readFileSync(${JSON.stringify(assets['image-cri-shim.cjs'])}, 'utf8');` +
        `const script = compileCommonJs(ASSET.shim, source, readFileSync(${JSON.stringify(file)}));` +
        'process.stdout.write(String(script.cachedDataRejected));';
      const nodeOptions = key.slice('code-cache:'.length);
      const rejected = execFileSync(process.execPath, ['--input-type=module', '-e', check], {
        env: { PATH: process.env.PATH, NODE_OPTIONS: nodeOptions },
        encoding: 'utf8',
      });
      assert.equal(rejected, 'false', `the cache for NODE_OPTIONS="${nodeOptions}" is refused`);
    }
  });

  it('--version prints the version baked in at build time and the pinned Node.js inside', async () => {
    const { code, out } = await run(['--version']);
    assert.equal(code, 0);
    assert.equal(out, `image-cri-shim version ${VERSION}\nNode.js v${pinnedNode().version} linux/${hostTarget()}\n`);
  });

  it('runs without a word about it when NODE_OPTIONS has a V8 flag its code cache was not built for', async () => {
    const { code, out } = await run(['--version'], { NODE_OPTIONS: '--max-old-space-size=100' });
    assert.equal(code, 0);
    assert.equal(
      out,
      `image-cri-shim version ${VERSION}\nNode.js v${pinnedNode().version} linux/${hostTarget()}\n`,
      'nothing but the version (no "code cache rejected")',
    );
  });

  it('serves crictl v1.26.1 (the socket path as :authority): version and a rewritten pull', async () => {
    const socket = join(node, 'crictl.sock');
    const file = join(node, 'crictl.yaml');
    writeFileSync(file, world.config(socket), { mode: 0o600 });
    const shim = startProc(exe, ['-f', file], { env: bareEnv(node), cwd: node });
    try {
      await waitFor('listening', () => shim.output().includes('image-cri-shim listening on'), 15_000);
      assert.match(shim.output(), new RegExp(`Node\\.js v${pinnedNode().version} linux/${hostTarget()}`));
      assert.match(await crictlOk(socket, 'version'), /RuntimeName:\s+containerd/);
      assert.match(await crictlOk(socket, 'pull', 'app:v1'), new RegExp(appId));
      await crictlOk(socket, 'rmi', 'app:v1');
    } finally {
      await shim.stop();
    }
  });

  it('serves: a rewritten pull, a SIGHUP reload, metrics, --dry-run, resolve, and SIGTERM', async () => {
    const socket = join(node, 'shim.sock');
    const metricsPort = await freePort();
    const file = join(node, 'image-cri-shim.yaml');
    const config = (debug: boolean) =>
      `shim: ${socket}\ncri: ${containerd.socket}\naddress: http://${registry.host}\nauth: ` +
      `${registry.creds}\nfallback: false\ndebug: ${debug}\nmetricsAddress: 127.0.0.1:${metricsPort}\n`;
    writeFileSync(file, config(false), { mode: 0o600 });
    let shim: Proc | undefined = startProc(exe, ['-f', file], { env: bareEnv(node), cwd: node });
    try {
      await waitFor('listening', () => shim!.output().includes('image-cri-shim listening on'), 15_000);
      const cri = new CriClient(socket);
      assert.equal((await cri.pullImage('app:v1')).image_ref, appId);
      cri.close();
      assert.match(shim.output(), /priority match: image=app:v1 .*matched_registry=/);

      const from = shim.output().length;
      writeFileSync(file, config(true), { mode: 0o600 });
      process.kill(shim.pid, 'SIGHUP');
      await waitFor(
        'reload',
        () => shim!.output().slice(from).includes(`reloaded shim auth configuration from ${file}`),
        10_000,
      );

      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      assert.match(metrics, /image_cri_shim_cri_requests_total\{method="PullImage",code="0"\} 1/);

      const dry = await run(['--dry-run', '-f', file]);
      assert.equal(dry.code, 0, dry.out);
      assert.match(dry.out, /all checks passed/);
      const resolved = await run(['resolve', 'app:v1', '-f', file]);
      assert.equal(resolved.code, 0, resolved.out);
      assert.match(resolved.out, new RegExp(`result:\\s+${registry.host.replace(/\./g, '\\.')}/library/app:v1`));

      assert.equal(await shim.stop(15_000), 0);
      shim = undefined;
      assert.ok(!existsSync(socket), 'socket removed on SIGTERM');
      assert.ok(!existsSync(join(node, 'node_modules')), 'nothing was unpacked beside it');
    } finally {
      await shim?.stop();
    }
  });

  it('with a cluster: takes the registry password from the Secret and records an Event on the pod', async () => {
    const kube = join(tmp.path, 'kube');
    mkdirSync(kube);
    const api = await FakeKubeApi.start(kube);
    const auth = Buffer.from(registry.creds!).toString('base64');
    api.putSecret('image-cri-shim-auth', {
      '.dockerconfigjson': JSON.stringify({ auths: { [`http://${registry.host}`]: { auth } } }),
    });
    const socket = join(node, 'cluster.sock');
    const file = join(node, 'cluster.yaml');
    writeFileSync(
      file,
      `shim: ${socket}\ncri: ${containerd.socket}\naddress: http://${registry.host}\nfallback: false\n`,
      {
        mode: 0o600,
      },
    );
    const shim = startProc(exe, ['-f', file], { env: { ...bareEnv(node), KUBECONFIG: api.kubeconfig }, cwd: node });
    try {
      await waitFor('listening', () => shim.output().includes('image-cri-shim listening on'), 15_000);
      // Asked at once: the pull waits for the Secret, read after the socket listens.
      const cri = new CriClient(socket);
      const pod = { name: 'exe-0', namespace: 'default', uid: 'uid-exe-0' };
      assert.equal((await cri.pullImage('app:v1', undefined, {}, undefined, pod)).image_ref, appId);
      cri.close();
      assert.match(shim.output(), /secret: credentials for 1 registries updated/);
      await waitFor('the Event', () => api.events().length === 1, 5000);
      assert.equal(api.events()[0]!.message, `Pulled app:v1 from ${registry.host}/library/app:v1 (priority 1000)`);
      assert.ok(!shim.output().includes(registry.password));
      assert.ok(!readFileSync(file, 'utf8').includes(registry.password));
    } finally {
      await shim.stop();
      await api.stop();
    }
  });
});
