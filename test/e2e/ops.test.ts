// Operator tools, run as the built CLI against real containerd and registries:
// --dry-run, resolve, /metrics, and the deployment files.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseConfigText } from '../../src/config/load.js';
import { CriClient } from '../support/cri-client.js';
import { createWorld, type World } from '../support/fixture.js';
import { FakeKubeApi } from '../support/kube-api.js';
import { freePort, startProc } from '../support/procs.js';
import { CLI, startShim } from '../support/shim.js';

let w: World;
let api: FakeKubeApi;
let n = 0;
const ROOT = new URL('../../../', import.meta.url).pathname;

before(async () => {
  w = await createWorld();
  mkdirSync(join(w.dir, 'kube'));
  api = await FakeKubeApi.start(join(w.dir, 'kube'));
});
after(async () => {
  await api?.stop();
  await w?.teardown();
});

function configFile(body: string): { file: string; dir: string } {
  const dir = join(w.dir, `ops-${++n}`);
  mkdirSync(dir);
  const file = join(dir, 'image-cri-shim.yaml');
  writeFileSync(
    file,
    `shim: ${join(dir, 'shim.sock')}\ncri: ${w.containerd.socket}\nprobeTimeout: 1s\nfallback: false\n${body}`,
  );
  return { file, dir };
}

async function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | string | null; out: string }> {
  const proc = startProc(process.execPath, [CLI, ...args], { env });
  const code = await proc.exited();
  return { code, out: proc.output() };
}

function row(out: string, check: RegExp): string {
  const line = out.split('\n').find((l) => check.test(l));
  assert.ok(line, `no row ${check} in:\n${out}`);
  return line;
}

describe('--dry-run', () => {
  it('reports every dependency, failing rows with their reason, exit 1', async () => {
    const { file, dir } = configFile(
      `address: http://${w.a.host}\nauth: ${w.a.creds}\nregistries:\n  - address: http://${w.b.host}\n    auth: ` +
        `bob:not-the-password\n  - address: http://${w.downHost}\n    priority: 900\n`,
    );
    const { code, out } = await run(['--dry-run', '--file', file], { ...process.env, HOME: dir, KUBECONFIG: '' });
    assert.equal(code, 1, out);
    assert.match(row(out, /^config /), /ok\s+3 registries/);
    assert.match(row(out, /^runtime /), /ok\s+containerd 1\.6\.\S+, CRI v1/);
    assert.match(row(out, new RegExp(`registry http://${w.a.host} `)), /ok\s+\d+ ms, credentials accepted/);
    assert.match(row(out, new RegExp(`registry http://${w.b.host} `)), /FAIL\s+\d+ ms, credentials rejected/);
    assert.match(row(out, new RegExp(`registry http://${w.downHost} `)), /FAIL\s+unreachable: ECONNREFUSED/);
    assert.match(row(out, /^kubernetes API/), /skip\s+no kubeconfig found/);
    assert.match(out, /some checks failed/);
    assert.ok(!out.includes(w.a.password) && !out.includes('not-the-password'), 'no credentials in the report');
  });

  it('exits 0 when everything is well, and checks the ConfigMap through the API', async () => {
    const { file, dir } = configFile(
      `address: http://${w.a.host}\nauth: ${w.a.creds}\nregistries:\n  - address: http://${w.c.host}\n    auth: ` +
        `${w.c.creds}\n`,
    );
    api.put('image-cri-shim', {
      'registries.yaml': `registries:\n  - address: http://${w.b.host}\n    priority: 700\n`,
    });
    const good = await run(['--dry-run', '-f', file], { ...process.env, HOME: dir, KUBECONFIG: api.kubeconfig });
    assert.equal(good.code, 0, good.out);
    assert.match(
      row(good.out, new RegExp(`registry http://${w.c.host} `)),
      /ok\s+\d+ ms, credentials accepted/,
      'token registry',
    );
    assert.match(row(good.out, /^configmap kube-system\/image-cri-shim/), /ok\s+present, parses \(1 registries\)/);

    api.put('image-cri-shim', { 'registries.yaml': 'registries: [unclosed\n' });
    const bad = await run(['--dry-run', '-f', file], { ...process.env, HOME: dir, KUBECONFIG: api.kubeconfig });
    assert.equal(bad.code, 1);
    assert.match(row(bad.out, /^configmap kube-system\/image-cri-shim/), /FAIL\s+.*invalid YAML/);
    api.delete('image-cri-shim');
  });

  it('fails on an invalid config with the key named', async () => {
    const { file } = configFile('address: http://x\ntimeout: soon\n');
    const { code, out } = await run(['--dry-run', '-f', file], process.env);
    assert.equal(code, 1);
    assert.match(row(out, /^config /), /FAIL\s+.*timeout: expected a duration/);
  });
});

describe("the Go shim's command line", () => {
  it('--version prints "image-cri-shim version V" first, then the Node.js release and architecture', async () => {
    const { code, out } = await run(['--version'], process.env);
    assert.equal(code, 0);
    assert.match(out, /^image-cri-shim version \d+\.\d+\.\d+\S*\n/);
    assert.equal(
      out.split('\n')[1],
      `Node.js ${process.version} linux/${process.arch === 'x64' ? 'amd64' : process.arch}`,
    );
  });

  it("takes -f=PATH (cobra's form) as -f PATH", async () => {
    const { file } = configFile('address: http://x\ntimeout: soon\n');
    const { code, out } = await run(['--dry-run', `-f=${file}`], process.env);
    assert.equal(code, 1);
    assert.match(row(out, /^config /), new RegExp(`config ${file}`));
  });
});

describe('resolve', () => {
  it('prints each candidate with its probe result, the winner and why', async () => {
    const { file } = configFile(
      `address: http://${w.a.host}\nauth: ${w.a.creds}\nregistries:\n  - address: http://${w.b.host}\n    auth: ` +
        `${w.b.creds}\n    priority: 1200\n  - address: http://${w.downHost}\n    priority: 2000\n  - address: ` +
        `http://${w.c.host}\n    auth: carol:wrong\n    priority: 1500\n`,
    );
    const { code, out } = await run(['resolve', 'app:v1', '--file', file], process.env);
    assert.equal(code, 0, out);
    assert.match(out, /normalised:\s+docker\.io\/library\/app:v1/);
    assert.match(row(out, new RegExp(`^1\\s+${w.downHost}`)), /2000\s+.*unreachable/);
    assert.match(row(out, new RegExp(`^2\\s+${w.c.host}`)), /1500\s+.*unauthorized/);
    assert.match(row(out, new RegExp(`^3\\s+${w.b.host}`)), /1200\s+.*found \(HTTP 200, \d+ ms\)\s+<- winner/);
    assert.match(row(out, new RegExp(`^4\\s+${w.a.host} \\(offline\\)`)), /1000\s+.*found/);
    assert.match(out, new RegExp(`result:\\s+${w.b.host}/library/app:v1`));
    assert.match(out, /why:\s+highest-priority registry that has the image; above it: .*unreachable.*unauthorized/);
  });

  it('exits 1 when no registry has the image', async () => {
    const { file } = configFile(`address: http://${w.a.host}\nauth: ${w.a.creds}\n`);
    const { code, out } = await run(['resolve', 'nowhere/to-be-found:v9', '-f', file], process.env);
    assert.equal(code, 1);
    assert.match(out, /not found \(HTTP 404/);
    assert.match(out, /why:\s+no configured registry has the image; fallback is off/);
  });
});

describe('metrics', () => {
  it('counts pulls, decisions, cache use and probes, and no label carries a credential', async () => {
    const port = await freePort();
    const dir = join(w.dir, `metrics-${++n}`);
    mkdirSync(dir);
    const shim = await startShim(
      dir,
      `shim: ${join(dir, 'shim.sock')}\ncri: ${w.containerd.socket}\naddress: http://${w.a.host}\nauth: ` +
        `${w.a.creds}\nfallback: false\nprobeTimeout: 1s\nmetricsAddress: 127.0.0.1:${port}\nregistries:\n  - ` +
        `address: http://${w.b.host}\n    auth: ${w.b.creds}\n    priority: 1200\n  - address: ` +
        `http://${w.downHost}\n    priority: 3000\n`,
      { ...process.env, HOME: dir, KUBECONFIG: '' },
    );
    const cri = new CriClient(shim.socket);
    try {
      const base = `http://127.0.0.1:${port}`;
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      assert.equal((await fetch(`${base}/readyz`)).status, 200);
      await cri.pullImage('app:v1');
      await cri.pullImage('docker.io/library/app:v1');
      await cri.imageStatus('app:v1');
      await assert.rejects(cri.pullImage('not-there:v1'));
      await cri.version();
      const text = await (await fetch(`${base}/metrics`)).text();
      const value = (series: string) =>
        Number(new RegExp(`^${series.replace(/[{}.]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
      assert.equal(value('image_cri_shim_cri_requests_total{method="PullImage",code="0"}'), 2);
      assert.equal(value('image_cri_shim_cri_requests_total{method="PullImage",code="5"}'), 1);
      assert.equal(value('image_cri_shim_cri_requests_total{method="Version",code="0"}'), 1);
      assert.equal(value(`image_cri_shim_rewrite_decisions_total{result="rewritten",registry="${w.b.host}"}`), 1);
      assert.equal(value('image_cri_shim_rewrite_decisions_total{result="not_found",registry="none"}'), 1);
      // The second pull is a cache hit; the ImageStatus is answered by the node (the name the pull asked for).
      assert.ok(value('image_cri_shim_cache_hits_total{cache="image"}') >= 1);
      assert.equal(value('image_cri_shim_original_names_total{outcome="named"}'), 2);
      assert.equal(value('image_cri_shim_original_names_total{outcome="failed"}'), 0);
      assert.equal(value('image_cri_shim_cache_misses_total{cache="image"}'), 2);
      assert.equal(value(`image_cri_shim_registry_errors_total{registry="${w.downHost}",kind="unreachable"}`), 2);
      assert.ok(
        value(`image_cri_shim_registry_probe_duration_seconds_count{registry="${w.b.host}",result="found"}`) >= 1,
      );
      assert.ok(value('image_cri_shim_cri_request_duration_seconds_count{method="PullImage"}') >= 3);
      for (const secret of [w.a.user, w.a.password, w.b.user, w.b.password])
        assert.ok(!text.includes(secret), 'a credential in /metrics');
    } finally {
      cri.close();
      await shim.stop();
    }
  });
});

describe('deployment files', () => {
  it('the systemd unit passes systemd-analyze verify (and a broken one does not)', () => {
    const unit = readFileSync(join(ROOT, 'deploy/image-cri-shim.service'), 'utf8');
    assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    assert.match(
      unit,
      /^ExecStart=\/usr\/bin\/image-cri-shim -f \/etc\/image-cri-shim\.yaml$/m,
      "the Go shim's command",
    );
    assert.match(unit, /^After=.*containerd\.service/m);
    assert.match(unit, /^Before=kubelet\.service$/m);
    const dir = join(w.dir, 'units');
    mkdirSync(dir);
    // verify needs the binary to exist: point ExecStart at the built CLI, nothing else changes.
    const check = (text: string) => {
      writeFileSync(join(dir, 'image-cri-shim.service'), text.replace('/usr/bin/image-cri-shim', CLI));
      return spawnSync('systemd-analyze', ['verify', join(dir, 'image-cri-shim.service')], { encoding: 'utf8' });
    };
    const good = check(unit);
    assert.equal(good.status, 0, good.stderr);
    assert.equal(good.stderr.trim(), '');
    const bad = check(unit.replace('Restart=always', 'Restart=sometimes'));
    assert.match(bad.stderr, /restart specifier/, 'verify does catch mistakes');
  });

  it('RBAC grants get, list and watch on the one ConfigMap and the one Secret, create and patch on events', () => {
    const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy/rbac.yaml'), 'utf8')).map(
      (d) =>
        d.toJS() as {
          kind: string;
          metadata: { name: string; namespace?: string };
          rules?: unknown;
          roleRef?: unknown;
          subjects?: unknown;
        },
    );
    assert.deepEqual(
      docs.map((d) => d.kind),
      ['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding', 'Secret'],
    );
    for (const d of docs)
      assert.equal(d.metadata.namespace, d.kind.startsWith('Cluster') ? undefined : 'kube-system', d.kind);
    const role = docs.find((d) => d.kind === 'Role')!;
    assert.deepEqual(role.rules, [
      {
        apiGroups: [''],
        resources: ['configmaps'],
        resourceNames: ['image-cri-shim'],
        verbs: ['get', 'list', 'watch'],
      },
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: [parseConfigText('address: a.io', 'default', {}).config.authSecret!.name],
        verbs: ['get', 'list', 'watch'],
      },
    ]);
    assert.deepEqual(docs.find((d) => d.kind === 'ClusterRole')!.rules, [
      { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    ]);
    const serviceAccount = [{ kind: 'ServiceAccount', name: 'image-cri-shim', namespace: 'kube-system' }];
    const binding = docs.find((d) => d.kind === 'RoleBinding')!;
    assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'image-cri-shim' });
    assert.deepEqual(binding.subjects, serviceAccount);
    const clusterBinding = docs.find((d) => d.kind === 'ClusterRoleBinding')!;
    assert.deepEqual(clusterBinding.roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'image-cri-shim-events',
    });
    assert.deepEqual(clusterBinding.subjects, serviceAccount);
  });

  it('the example config is valid', () => {
    const text = readFileSync(join(ROOT, 'deploy/image-cri-shim.yaml'), 'utf8');
    const { config, warnings } = parseConfigText(text, 'example', { SEALOS_PASSWORD: 'x', HARBOR_TOKEN: 'y' });
    assert.equal(config.registries.length, 2);
    assert.deepEqual(warnings, []);
  });
});
