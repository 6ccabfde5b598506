// End to end with the clients nodes really run: crictl v1.26.1 (the kubelet's CRI client of
// Kubernetes 1.26–1.30, gRPC-Go, socket path as :authority) and raw HTTP/2 clients sending each
// authority form, through the built CLI to real containerd and a real password-protected registry.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getBytes, getString } from '../../src/cri/wire.js';
import { startContainerd, type TestContainerd } from '../support/containerd.js';
import { crictl, crictlOk } from '../support/crictl.js';
import { grpcRequest, header, imageRequest, RawH2Client } from '../support/h2-client.js';
import { buildImage, pushImage } from '../support/image.js';
import { freePort, tempDir } from '../support/procs.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startShim, type TestShim } from '../support/shim.js';

const tmp = tempDir('crictl');
let containerd: TestContainerd;
let offline: TestRegistry;
let shim: TestShim;
let metricsPort: number;
const PASSWORD = 'olive-secret-pass';

before(async () => {
  offline = await startRegistry(join(tmp.path, 'offline'), 'htpasswd', { user: 'olive', password: PASSWORD });
  const images = join(tmp.path, 'images');
  buildImage(join(images, 'hello'), 'hello through the shim', 'v1');
  buildImage(join(images, 'pause'), 'pause', 'v1', ['/bin/sleep', '100000']);
  buildImage(join(images, 'app'), 'app', 'v1', ['/bin/sh', '-c', 'echo hello-from-container; exec sleep 3600']);
  for (const name of ['hello', 'pause', 'app'])
    await pushImage(join(images, name), 'v1', `${offline.host}/library/${name}:v1`, offline.creds);
  buildImage(join(images, 'busybox'), 'busybox 1.36', '1.36', ['/bin/sleep', '3600']);
  await pushImage(join(images, 'busybox'), '1.36', `${offline.host}/library/busybox:1.36`, offline.creds);
  containerd = await startContainerd(join(tmp.path, 'containerd'), {
    sandboxImage: `${offline.host}/library/pause:v1`,
  });
  containerd.allowHttpRegistry(offline.host);
  metricsPort = await freePort();
  const dir = join(tmp.path, 'shim');
  mkdirSync(dir, { recursive: true });
  shim = await startShim(
    dir,
    [
      `shim: ${join(dir, 'shim.sock')}`,
      `cri: ${containerd.socket}`,
      `address: http://${offline.host}`,
      `auth: olive:${PASSWORD}`,
      'fallback: false',
      'debug: true',
      `metricsAddress: 127.0.0.1:${metricsPort}`,
    ].join('\n'),
  );
});

after(async () => {
  await shim?.stop();
  await containerd?.stop();
  await offline?.stop();
  tmp.remove();
});

const viaShim = (...args: string[]) => crictlOk(shim.socket, ...args);

/** crictl's pod and container config files for a host-network pod `pod` with one container `name` of `image`. */
function podFiles(pod: string, name: string, image: string): { podConfig: string; ctrConfig: string } {
  const dir = join(tmp.path, pod);
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const podConfig = join(dir, 'pod.json');
  const ctrConfig = join(dir, 'ctr.json');
  writeFileSync(
    podConfig,
    JSON.stringify({
      metadata: { name: pod, namespace: 'default', uid: `${pod}-uid`, attempt: 0 },
      log_directory: join(dir, 'logs'),
      linux: { security_context: { namespace_options: { network: 2 } } },
    }),
  );
  writeFileSync(
    ctrConfig,
    JSON.stringify({ metadata: { name }, image: { image }, log_path: `${name}.log`, linux: {} }),
  );
  return { podConfig, ctrConfig };
}
const direct = (...args: string[]) => crictlOk(containerd.socket, ...args);

describe('crictl v1.26.1 through the shim', () => {
  it('version and info answer as containerd does', async () => {
    assert.equal(await viaShim('version'), await direct('version'));
    const [a, b] = [JSON.parse(await viaShim('info')), JSON.parse(await direct('info'))];
    assert.deepEqual(a.status, b.status);
  });

  it('a short name is pulled from the offline registry with its credentials; images, inspecti, rmi', async () => {
    const pulled = await viaShim('pull', 'hello:v1');
    const id = /sha256:[0-9a-f]{64}/.exec(pulled)?.[0];
    assert.ok(id, pulled);
    await shim.waitForLog(`priority match: image=hello:v1`);
    const listed = await viaShim('images', '-o', 'json');
    assert.equal(listed, await direct('images', '-o', 'json'));
    assert.deepEqual(
      JSON.parse(listed).images.flatMap((i: { repoTags: string[] }) => i.repoTags),
      [`${offline.host}/library/hello:v1`, 'docker.io/library/hello:v1'],
    );
    // inspecti by the short name: containerd knows the name the pull asked for.
    const inspected = JSON.parse(await viaShim('inspecti', 'hello:v1'));
    assert.equal(inspected.status.id, id);
    assert.deepEqual(inspected, JSON.parse(await direct('inspecti', `${offline.host}/library/hello:v1`)));
    await viaShim('rmi', 'hello:v1');
    assert.equal(JSON.parse(await direct('images', '-o', 'json')).images.length, 0);
  });

  it('busybox:1.36 is listed as docker.io/library/busybox 1.36, and a container starts from that name', async () => {
    await viaShim('pull', 'pause:v1');
    await viaShim('pull', 'busybox:1.36');
    const table = await viaShim('images');
    assert.match(table, /^docker\.io\/library\/busybox\s+1\.36\s+[0-9a-f]{13}/m, table);
    // As `crictl create` and other tools do: the container names the image as the pod spec does.
    const { podConfig, ctrConfig } = podFiles('busybox-pod', 'bb', 'busybox:1.36');
    const pod = await viaShim('runp', podConfig);
    try {
      const ctr = await viaShim('create', pod, ctrConfig, podConfig);
      await viaShim('start', ctr);
      assert.equal(JSON.parse(await viaShim('inspect', ctr)).status.state, 'CONTAINER_RUNNING');
      assert.equal(await viaShim('exec', '-s', ctr, 'cat', '/hello.txt'), 'busybox 1.36');
      await viaShim('stop', '-t', '1', ctr);
      await viaShim('rm', ctr);
    } finally {
      await viaShim('stopp', pod);
      await viaShim('rmp', pod);
    }
  });

  it('runs a host-network pod: runp, create, start, exec -s, logs, stop, rm, stopp, rmp', async () => {
    await viaShim('pull', 'pause:v1');
    const appId = /sha256:[0-9a-f]{64}/.exec(await viaShim('pull', 'app:v1'))![0];
    // As kubelet does: the container names the image by the reference the pull returned.
    const { podConfig, ctrConfig } = podFiles('crictl-pod', 'app', appId);
    const pod = await viaShim('runp', podConfig);
    const ctr = await viaShim('create', pod, ctrConfig, podConfig);
    await viaShim('start', ctr);
    assert.equal(await viaShim('exec', '-s', ctr, 'cat', '/hello.txt'), 'app');
    let logs = '';
    for (let i = 0; i < 50 && !logs.includes('hello-from-container'); i++) {
      logs = await viaShim('logs', ctr);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(logs, 'hello-from-container');
    await viaShim('stop', '-t', '1', ctr);
    await viaShim('rm', ctr);
    await viaShim('stopp', pod);
    await viaShim('rmp', pod);
    assert.equal(await direct('pods', '-q'), '');
  });

  it('counts the connections it filtered, logs no password, and never refused one', async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const filtered = Number(/image_cri_shim_http2_connections_total\{path="filtered"\} (\d+)/.exec(metrics)?.[1]);
    assert.ok(filtered >= 10, metrics);
    assert.match(metrics, /image_cri_shim_http2_refused_total 0/);
    assert.ok(!shim.output().includes(PASSWORD));
    assert.match(shim.output(), /client :authority "\/.*shim\.sock" is not a host name node:http2 accepts/);
  });
});

const EMPTY_MESSAGE = Buffer.alloc(5);

describe('raw HTTP/2 clients through the shim', () => {
  const forms: [string, string | undefined][] = [
    ['socket path', '/var/run/image-cri-shim.sock'],
    ['empty', ''],
    ['%-encoded path', '%2Fvar%2Frun%2Fimage-cri-shim.sock'],
    ['none', undefined],
    ['localhost', 'localhost'],
  ];
  for (const [name, authority] of forms) {
    for (const version of ['v1', 'v1alpha2']) {
      it(`${version}, :authority ${name}: relayed Version, intercepted PullImage and ImageStatus`, async () => {
        const client = await RawH2Client.connect(shim.socket);
        const call = async (path: string, body: Buffer) => {
          const r = await client.result(client.request(grpcRequest(path, authority), { body, huffman: true }), 60_000);
          assert.equal(r.reset, undefined, `${path} reset`);
          return { status: header(r.headers.at(-1), 'grpc-status'), message: r.data.subarray(5) };
        };
        const v = await call(`/runtime.${version}.RuntimeService/Version`, EMPTY_MESSAGE);
        assert.equal(v.status, '0');
        assert.equal(getString(v.message, 2), 'containerd');
        const pulled = await call(`/runtime.${version}.ImageService/PullImage`, imageRequest('hello:v1'));
        assert.equal(pulled.status, '0');
        const status = await call(`/runtime.${version}.ImageService/ImageStatus`, imageRequest('hello:v1'));
        assert.equal(status.status, '0');
        const image = getBytes(status.message, 1);
        assert.ok(image, 'the runtime knows the rewritten image');
        assert.equal(getString(image, 1), getString(pulled.message, 1));
        await call(`/runtime.${version}.ImageService/RemoveImage`, imageRequest('hello:v1'));
        client.close();
      });
    }
  }

  it('a streaming method (GetContainerEvents) gets the answer containerd gives directly', async () => {
    const answers: (string | undefined)[] = [];
    for (const [socket, authority] of [
      [containerd.socket, 'localhost'],
      [shim.socket, '/var/run/image-cri-shim.sock'],
    ] as const) {
      const client = await RawH2Client.connect(socket);
      const r = await client.result(
        client.request(grpcRequest('/runtime.v1.RuntimeService/GetContainerEvents', authority), {
          body: EMPTY_MESSAGE,
        }),
      );
      answers.push(header(r.headers.at(-1), 'grpc-status'));
      client.close();
    }
    assert.equal(answers[1], answers[0]);
  });

  it('a broken header block ends that connection only: crictl keeps working', async () => {
    const client = await RawH2Client.connect(shim.socket);
    client.write(client.headersFrames(1, Buffer.from([0x80]), {}, true));
    await client.until(() => client.goaway !== undefined, 'GOAWAY');
    client.close();
    await shim.waitForLog('http2: connection refused: header block of stream 1: index 0 not in the table');
    assert.equal((await crictl(shim.socket, 'version')).code, 0);
  });
});
