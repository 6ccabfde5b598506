// The probe trusts what the runtime trusts, end to end: a self-signed HTTPS registry that
// containerd trusts through its hosts.toml `ca` entry is trusted by the shim too (and by nothing
// else), and a bare host:port that answers only plain HTTP is used over HTTP with a warning.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startContainerd, type TestContainerd } from '../support/containerd.js';
import { CriClient } from '../support/cri-client.js';
import { buildImage, pushImage } from '../support/image.js';
import { startProc, tempDir } from '../support/procs.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { CLI, startShim } from '../support/shim.js';

const tmp = tempDir('trust-e2e');
let containerd: TestContainerd;
let secure: TestRegistry & { certFile?: string };
let plain: TestRegistry;
let appId: string;
let n = 0;

before(async () => {
  secure = await startRegistry(join(tmp.path, 'secure'), 'htpasswd', {
    user: 'tina',
    password: 'tina-secret-pass',
    tls: true,
  });
  plain = await startRegistry(join(tmp.path, 'plain'), 'none');
  const layout = join(tmp.path, 'app');
  appId = buildImage(layout, 'served over TLS', 'v1').imageId;
  await pushImage(layout, 'v1', `${secure.host}/library/app:v1`, secure.creds);
  await pushImage(layout, 'v1', `${plain.host}/library/app:v1`);
  containerd = await startContainerd(join(tmp.path, 'containerd'));
});

after(async () => {
  await containerd?.stop();
  await secure?.stop();
  await plain?.stop();
  tmp.remove();
});

/** A config naming registries by bare host:port, as Go shim configs do, with containerd's hosts dir. */
function config(dir: string, address: string, creds?: string): string {
  return [
    `shim: ${join(dir, 'shim.sock')}`,
    `cri: ${containerd.socket}`,
    `address: ${address}`,
    creds ? `auth: ${creds}` : '',
    `hostsDir: ${containerd.hostsDir}`,
    'fallback: false',
    '',
  ].join('\n');
}

function dryRun(file: string): Promise<{ code: number | string | null; out: string }> {
  const proc = startProc(process.execPath, [CLI, '--dry-run', '-f', file], {
    env: { ...process.env, KUBECONFIG: '', HOME: tmp.path },
  });
  return proc.exited().then((code) => ({ code, out: proc.output() }));
}

describe('the probe trusts what the runtime trusts', () => {
  it(
    'a self-signed registry containerd trusts through hosts.toml `ca`: probed with that CA, the pull ' + 'succeeds',
    async () => {
      containerd.trustRegistryCa(secure.host, secure.certFile);
      const dir = join(tmp.path, `shim-${++n}`);
      mkdirSync(dir);
      const shim = await startShim(dir, config(dir, secure.host, secure.creds), {
        ...process.env,
        KUBECONFIG: '',
        HOME: dir,
      });
      const cri = new CriClient(shim.socket);
      try {
        assert.equal((await cri.pullImage('app:v1')).image_ref, appId);
        await shim.waitForLog(`matched_registry=${secure.host}`);
      } finally {
        cri.close();
        await shim.stop();
      }
      const { code, out } = await dryRun(shim.configFile);
      assert.equal(code, 0, out);
      assert.match(
        out,
        new RegExp(
          `TLS verified; https://${secure.host.replace(/\./g, '\\.')}, trust from containerd ` +
            `.*${secure.host.replace(/\./g, '\\.')}/hosts\\.toml`,
        ),
      );
    },
  );

  it('the same registry without the entry: not trusted, and --dry-run says why and what to add', async () => {
    containerd.trustRegistryCa(secure.host, undefined);
    const dir = join(tmp.path, `shim-${++n}`);
    mkdirSync(dir);
    const file = join(dir, 'image-cri-shim.yaml');
    writeFileSync(file, config(dir, secure.host, secure.creds));
    const { code, out } = await dryRun(file);
    assert.equal(code, 1, out);
    assert.match(
      out,
      new RegExp(
        'FAIL.*(certificate|CERT).*trust from the system CAs; ' +
          'the runtime has no settings for it either: add .*hosts\\.toml',
      ),
    );
  });

  it(
    'a bare host:port that answers only plain HTTP, with no runtime entry: probed over HTTP, with a warning naming ' +
      'the hosts.toml',
    async () => {
      const dir = join(tmp.path, `shim-${++n}`);
      mkdirSync(dir);
      const shim = await startShim(dir, config(dir, plain.host), { ...process.env, KUBECONFIG: '', HOME: dir });
      try {
        await shim.waitForLog(
          new RegExp(
            `registry ${plain.host} answers plain HTTP only: probing it over HTTP\\. The runtime must be told ` +
              `too.*${plain.host}/hosts\\.toml`,
          ),
        );
        const resolve = startProc(process.execPath, [CLI, 'resolve', 'app:v1', '-f', shim.configFile], {
          env: { ...process.env, KUBECONFIG: '', HOME: dir },
        });
        assert.equal(await resolve.exited(), 0, resolve.output());
        assert.match(resolve.output(), /found \(HTTP 200/);
      } finally {
        await shim.stop();
      }
    },
  );
});
