// cri-tools' CRI validation suite (critest v1.26.1, the kubelet's CRI client code) run twice on
// the same real containerd: directly, with containerd mirroring the test images' registries to
// a local one, and then through the rewriting shim, with no mirror: the images come from the
// offline registry only because the shim rewrites them there. Every spec that passes directly
// must pass through the shim. The shim runs with `originalNames: only`: four image specs check
// that an image has exactly the names it was pulled by, which the default (the registry's name
// kept beside the caller's) cannot pass by design.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startContainerd, type TestContainerd } from '../support/containerd.js';
import { CriClient } from '../support/cri-client.js';
import { buildImage, type ImageExtras, pushImage } from '../support/image.js';
import { tempDir } from '../support/procs.js';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { startShim, type TestShim } from '../support/shim.js';

const CRITEST = fileURLToPath(new URL('../../../../shared/tools/critest', import.meta.url));
/** Specs that need what these machines lack (a fixed public digest, host port mapping, LSMs). */
const SKIP = 'with digest|port mapping|SELinux|AppArmor';
const E2E = 'registry.k8s.io/e2e-test-images';
const CRI_TOOLS = 'gcr.io/k8s-staging-cri-tools';
const SOURCES = ['registry.k8s.io', 'gcr.io'];

const PASSWD =
  'root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/sh\n' +
  'user1000:x:1000:1000::/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n';
const GROUP = 'root:x:0:\nwww-data:x:33:\nuser1000:x:1000:\ngroup50000:x:50000:user1000\nnogroup:x:65534:\n';
const INDEX = '<html><head><title>Welcome to nginx!</title></head><body>Welcome to nginx!</body></html>\n';

/** A busybox image with every applet, users and groups, and whatever else `extras` adds. */
function image(cmd: string[], extras: ImageExtras = {}): { cmd: string[]; extras: ImageExtras } {
  return {
    cmd,
    extras: { ...extras, allApplets: true, files: { 'etc/passwd': PASSWD, 'etc/group': GROUP, ...extras.files } },
  };
}
const webServer = (listen: string) =>
  image(['httpd', '-f', '-p', listen, '-h', '/www'], { files: { 'www/index.html': INDEX } });

/** The test images critest pulls, by their public names (each a name:tag list sharing one image). */
const IMAGES: [names: string[], spec: ReturnType<typeof image>][] = [
  [[`${E2E}/busybox:1.29-2`], image(['sh'])],
  [[`${E2E}/nginx:1.14-2`], webServer('80')],
  [[`${E2E}/httpd:2.4.39-4`], webServer('80')],
  [[`${E2E}/nonewprivs:1.3`], image(['sh', '-c', 'echo "Effective uid: $(id -u)"'])],
  [[`${CRI_TOOLS}/test-image-1:latest`], image(['sh'], { files: { 'image.txt': '1' } })],
  [[`${CRI_TOOLS}/test-image-2:latest`], image(['sh'], { files: { 'image.txt': '2' } })],
  [[`${CRI_TOOLS}/test-image-3:latest`], image(['sh'], { files: { 'image.txt': '3' } })],
  [[`${CRI_TOOLS}/test-image-latest:latest`], image(['sh'], { files: { 'image.txt': 'latest' } })],
  [[`${CRI_TOOLS}/test-image-tag:test`], image(['sh'], { files: { 'image.txt': 'tag' } })],
  [[`${CRI_TOOLS}/test-image-tag:all`], image(['sh'], { files: { 'image.txt': 'all' } })],
  [
    [`${CRI_TOOLS}/test-image-tags:1`, `${CRI_TOOLS}/test-image-tags:2`, `${CRI_TOOLS}/test-image-tags:3`],
    image(['sh'], { files: { 'image.txt': 'tags' } }),
  ],
  [[`${CRI_TOOLS}/test-image-user-uid:latest`], image(['sh'], { user: '1002' })],
  [[`${CRI_TOOLS}/test-image-user-username:latest`], image(['sh'], { user: 'www-data' })],
  [[`${CRI_TOOLS}/test-image-user-uid-group:latest`], image(['sh'], { user: '1003:1004' })],
  [[`${CRI_TOOLS}/test-image-user-username-group:latest`], image(['sh'], { user: 'www-data:1004' })],
  [[`${CRI_TOOLS}/test-image-predefined-group:latest`], image(['sh'], { user: '1000' })],
  // Host network: it listens on the loopback address only.
  [[`${CRI_TOOLS}/hostnet-nginx-amd64:latest`], webServer('127.0.0.1:12003')],
];

const tmp = tempDir('critest');
let offline: TestRegistry;
let containerd: TestContainerd;
let direct: CriClient;
let shim: TestShim | undefined;

/** `registry.k8s.io/e2e-test-images/busybox:1.29-2` → `e2e-test-images/busybox:1.29-2`: the path it is served at. */
const pathOf = (name: string) => name.slice(name.indexOf('/') + 1);

before(async () => {
  offline = await startRegistry(join(tmp.path, 'offline'), 'none');
  for (const [i, [names, spec]] of IMAGES.entries()) {
    const tag = names[0]!.slice(names[0]!.lastIndexOf(':') + 1);
    const layout = join(tmp.path, 'images', String(i), 'layout');
    mkdirSync(join(layout, '..'), { recursive: true });
    buildImage(layout, names[0]!, tag, spec.cmd, spec.extras);
    for (const name of names) await pushImage(layout, tag, `${offline.host}/${pathOf(name)}`);
  }
  const pause = join(tmp.path, 'images', 'pause', 'layout');
  buildImage(pause, 'pause', 'v1', ['/bin/sleep', '100000']);
  await pushImage(pause, 'v1', `${offline.host}/library/pause:v1`);
  containerd = await startContainerd(join(tmp.path, 'containerd'), {
    sandboxImage: `${offline.host}/library/pause:v1`,
    podNetwork: true,
  });
  containerd.allowHttpRegistry(offline.host);
  direct = new CriClient(containerd.socket);
});

after(async () => {
  direct?.close();
  await shim?.stop();
  await containerd?.stop();
  await offline?.stop();
  tmp.remove();
});

interface SpecResult {
  readonly passed: Set<string>;
  readonly failed: Map<string, string>;
  readonly total: number;
}

/** Runs critest against `socket`; the outcome of every spec it ran, from its JUnit report. */
async function critest(socket: string, name: string): Promise<SpecResult> {
  const report = join(tmp.path, `${name}.xml`);
  const endpoint = `unix://${socket}`;
  await new Promise<void>((resolve) =>
    execFile(
      CRITEST,
      [
        `--runtime-endpoint=${endpoint}`,
        `--image-endpoint=${endpoint}`,
        `--ginkgo.skip=${SKIP}`,
        '--ginkgo.no-color',
        `--ginkgo.junit-report=${report}`,
        '--ginkgo.timeout=30m',
      ],
      { timeout: 35 * 60_000, maxBuffer: 64 * 1024 * 1024, cwd: tmp.path },
      () => resolve(), // failing specs exit non-zero: the report says which
    ),
  );
  const xml = readFileSync(report, 'utf8');
  const passed = new Set<string>();
  const failed = new Map<string, string>();
  for (const m of xml.matchAll(/<testcase name="([^"]*)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const spec = m[1]!.replace(/&#34;/g, '"').replace(/&amp;/g, '&');
    const body = m[3] ?? '';
    if (/^\[(BeforeSuite|AfterSuite|SynchronizedBeforeSuite|ReportAfterSuite)\]/.test(spec)) continue;
    if (/<skipped/.test(body)) continue;
    const failure = /<(failure|error)[^>]*message="([^"]*)"/.exec(body);
    if (failure) failed.set(spec, failure[2]!.slice(0, 300));
    else passed.add(spec);
  }
  return { passed, failed, total: passed.size + failed.size };
}

async function removeAllImages(): Promise<void> {
  for (const img of (await direct.listImages()).images)
    if (!img.repo_tags.some((t) => t.includes('/library/pause:'))) await direct.removeImage(img.id);
}

describe('critest v1.26.1', () => {
  it('every spec that passes on containerd directly passes through the rewriting shim', async () => {
    for (const source of SOURCES) containerd.mirror(source, offline.host);
    const directly = await critest(containerd.socket, 'direct');
    await removeAllImages();
    for (const source of SOURCES) containerd.mirror(source, undefined);
    const dir = join(tmp.path, 'shim');
    mkdirSync(dir);
    shim = await startShim(
      dir,
      [`shim: ${join(dir, 'shim.sock')}`, `cri: ${containerd.socket}`, `address: http://${offline.host}`].join('\n') +
        // Only the offline registry: a reference it cannot serve is refused, never pulled from its origin.
        // Images carry only the names the specs pulled (several check an image has exactly those).
        '\nfallback: false\noriginalNames: only\n',
    );
    const through = await critest(shim.socket, 'shim');
    console.log(
      `# critest v1.26.1: ${directly.passed.size} of ${directly.total} specs pass on containerd directly, ` +
        `${through.passed.size} of ${through.total} through the rewriting shim`,
    );
    const lost = [...directly.passed].filter((spec) => !through.passed.has(spec));
    assert.deepEqual(
      lost.map((spec) => `${spec}: ${through.failed.get(spec) ?? 'not run'}`),
      [],
      'specs that pass directly and fail through the shim',
    );
    assert.ok(directly.passed.size >= 50, `only ${directly.passed.size} specs pass directly: the setup is broken`);
  });
});
