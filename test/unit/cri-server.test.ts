// The CRI server in front of a small recording runtime: what the runtime is asked (deadlines),
// the Go shim's log lines, and how the runtime socket is found.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfigText } from '../../src/config/load.js';
import { detectRuntimeSocket } from '../../src/cri/runtime-socket.js';
import { setLogSink } from '../../src/log.js';
import { FakeProber } from '../support/fake-prober.js';
import { type FakeRuntime, startFakeRuntime, startFront } from '../support/fake-runtime.js';
import { grpcRequest, header, imageRequest, RawH2Client } from '../support/h2-client.js';
import { tempDir } from '../support/procs.js';

const tmp = tempDir('cri-server');
const runtimeSocket = join(tmp.path, 'runtime.sock');
const shimSocket = join(tmp.path, 'shim.sock');
const lines: string[] = [];
/** Knows no image (ImageStatus answers empty), pulls and removes anything; records what it is asked. */
let runtime: FakeRuntime;
let front: Awaited<ReturnType<typeof startFront>>;
const asked = () => runtime.asked;

before(async () => {
  runtime = await startFakeRuntime(runtimeSocket);
  const config = parseConfigText(
    'address: http://sealos.hub:5000\nregistries:\n  - address: other.io\n    priority: 10\n',
    'test',
    {},
  ).config;
  front = await startFront({
    shimSocket,
    runtimeSocket,
    config,
    prober: new FakeProber({ 'sealos.hub:5000': 'found' }),
  });
  setLogSink((l) => lines.push(l));
});

after(async () => {
  setLogSink((l) => process.stderr.write(`${l}\n`));
  await front.stop();
  await runtime.close();
  tmp.remove();
});

async function call(method: string, image: string, extra: [string, string][] = []): Promise<void> {
  const client = await RawH2Client.connect(shimSocket);
  const r = await client.result(
    client.request(grpcRequest(`/runtime.v1.ImageService/${method}`, 'localhost', extra), {
      body: imageRequest(image),
    }),
  );
  assert.equal(header(r.headers.at(-1), 'grpc-status'), '0');
  client.close();
}

describe('what the runtime is asked', () => {
  it('a pull with no deadline of its own gets none (kubelet sends none; large pulls take long)', async () => {
    await call('PullImage', 'app:v1');
    const pull = asked()
      .filter((a) => a.method === 'PullImage')
      .at(-1)!;
    assert.equal(pull.headers['grpc-timeout'], undefined);
  });

  it('a pull keeps the deadline its caller gave', async () => {
    await call('PullImage', 'app:v2', [['grpc-timeout', '30S']]);
    const pull = asked()
      .filter((a) => a.method === 'PullImage')
      .at(-1)!;
    assert.match(String(pull.headers['grpc-timeout']), /^\d+m$/);
    assert.ok(Number(String(pull.headers['grpc-timeout']).slice(0, -1)) <= 30_000);
  });

  it('other calls with no deadline get `timeout`', async () => {
    await call('RemoveImage', 'app:v1');
    const status = asked()
      .filter((a) => a.method === 'ImageStatus')
      .at(-1)!;
    assert.match(String(status.headers['grpc-timeout']), /^(899\d{3}|900000)m$/);
  });
});

describe("the Go shim's log lines", () => {
  it('rewrite action=… on every rewrite asked for, from the probes and then from the cache', async () => {
    await call('PullImage', 'logged:v1');
    await call('PullImage', 'logged:v1');
    const rewrites = lines.filter((l) => l.includes('rewrite action=PullImage') && l.includes('original=logged:v1'));
    assert.deepEqual(
      rewrites.map((l) => l.replace(/^.* (rewrite action=)/, '$1')),
      [
        'rewrite action=PullImage cache_hit=false source=offline original=logged:v1 ' +
          'result=sealos.hub:5000/library/logged:v1 replaced=true',
        'rewrite action=PullImage cache_hit=true source=cache original=logged:v1 ' +
          'result=sealos.hub:5000/library/logged:v1 replaced=true',
      ],
    );
  });
});

describe('runtime socket detection (pkg/cri/cri.go detectCRISocketImpl)', () => {
  const DOCKERD = '/var/run/cri-dockerd.sock';
  const CONTAINERD = '/run/containerd/containerd.sock';
  const CRIO = '/var/run/crio/crio.sock';
  const cases: [string, string[], string | RegExp][] = [
    ['none found: the containerd path', [], CONTAINERD],
    ['cri-dockerd (not dockershim)', [DOCKERD], DOCKERD],
    ['CRI-O', [CRIO], CRIO],
    [
      'several: an error naming them',
      [DOCKERD, CONTAINERD],
      /found multiple CRI sockets \(\/var\/run\/cri-dockerd\.sock, \/run\/containerd\/containerd\.sock\)/,
    ],
  ];
  for (const [what, present, expected] of cases) {
    it(what, () => {
      const detect = () => detectRuntimeSocket(undefined, (p) => present.includes(p));
      if (typeof expected === 'string') assert.equal(detect(), expected);
      else assert.throws(detect, expected);
    });
  }
  it('the configured one, whatever exists', () =>
    assert.equal(
      detectRuntimeSocket('/x.sock', () => true),
      '/x.sock',
    ));
});
