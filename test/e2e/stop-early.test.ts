// The shim stopped while its first read of the cluster still waits on the API server (in
// process, as an embedding program runs it): the read that ends afterwards starts no watch.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startShim } from '../../src/app.js';
import { setLogSink } from '../../src/log.js';
import { startContainerd, type TestContainerd } from '../support/containerd.js';
import { CriClient } from '../support/cri-client.js';
import { FakeKubeApi } from '../support/kube-api.js';
import { tempDir, waitFor } from '../support/procs.js';

const tmp = tempDir('stop-early');
let containerd: TestContainerd;
let api: FakeKubeApi;

before(async () => {
  containerd = await startContainerd(join(tmp.path, 'containerd'));
  mkdirSync(join(tmp.path, 'kube'));
  api = await FakeKubeApi.start(join(tmp.path, 'kube'));
});

after(async () => {
  setLogSink((line) => process.stderr.write(`${line}\n`));
  await api?.stop();
  await containerd?.stop();
  tmp.remove();
});

describe('stopping during the first cluster read', () => {
  it('serves, stops at once, and starts no watch when the read ends later', async () => {
    const lines: string[] = [];
    setLogSink((line) => lines.push(line));
    const file = join(tmp.path, 'shim.yaml');
    writeFileSync(
      file,
      `shim: ${join(tmp.path, 'shim.sock')}\ncri: ${containerd.socket}\naddress: http://127.0.0.1:1\n`,
      { mode: 0o600 },
    );
    const kubeconfig = process.env.KUBECONFIG;
    process.env.KUBECONFIG = api.kubeconfig;
    api.hangReads = true;
    try {
      const shim = await startShim(file);
      const cri = new CriClient(join(tmp.path, 'shim.sock'));
      assert.equal((await cri.version()).runtime_name, 'containerd');
      cri.close();
      await waitFor('the first read', () => api.requests.length > 0, 5000);
      const stopped = Date.now();
      await shim.stop();
      assert.ok(Date.now() - stopped < 5000, 'stopped without waiting for the API server');
      api.hangReads = false;
      const asked = api.requests.length;
      await waitFor('the read to time out', () => lines.some((l) => l.includes('cannot read configmap')), 15_000);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(api.requests.length, asked, `no request after stop: ${JSON.stringify(api.requests.slice(asked))}`);
    } finally {
      api.hangReads = false;
      if (kubeconfig === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = kubeconfig;
    }
  });
});
