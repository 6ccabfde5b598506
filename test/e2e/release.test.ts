// What `npm run package` delivers: an executable for amd64 and one for arm64, each carrying the
// pinned Node.js release, with SHA256SUMS beside them; and the arm64 one working, under
// qemu-user, alone in an empty directory: started against real containerd and a real registry,
// it serves crictl v1.26.1 a rewritten pull.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, openSync, readSync, closeSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { pinnedNode, type Target, TARGETS } from '../../scripts/node-release.js';
import { crictlOk } from '../support/crictl.js';
import { type AppWorld, createAppWorld } from '../support/fixture.js';
import { startProc, tempDir, waitFor } from '../support/procs.js';

const DIST = fileURLToPath(new URL('../../', import.meta.url));
const MAX_BYTES = 120 * 1024 * 1024;
/** How an arm64 executable runs here: user-mode qemu, with Debian's arm64 C libraries as its root. */
const QEMU = ['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu'];

const executable = (target: Target) => join(DIST, `image-cri-shim-linux-${target}`);

/** argv that runs `file` here (arm64 through qemu). */
function command(target: Target, file: string, args: string[]): [string, string[]] {
  return target === 'arm64' ? [QEMU[0]!, [...QEMU.slice(1), file, ...args]] : [file, args];
}

/** The ELF header's e_machine field. */
function elfMachine(file: string): number {
  const head = Buffer.alloc(20);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, head, 0, 20, 0);
  } finally {
    closeSync(fd);
  }
  assert.equal(head.subarray(0, 4).toString('latin1'), '\x7fELF', `${file} is not ELF`);
  return head.readUInt16LE(18);
}

describe('the executables npm run package delivers', () => {
  for (const target of Object.keys(TARGETS) as Target[]) {
    it(`linux/${target}: an ELF executable for ${target}, at most 120 MiB, carrying the pinned Node.js`, () => {
      const file = executable(target);
      assert.ok(existsSync(file), `${file} is missing: npm test builds it with npm run package`);
      assert.equal(elfMachine(file), TARGETS[target].elfMachine);
      assert.ok(statSync(file).size <= MAX_BYTES, `${(statSync(file).size / 2 ** 20).toFixed(1)} MiB`);
      const [cmd, args] = command(target, file, ['--version']);
      const version = execFileSync(cmd, args, { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
      assert.equal(version.split('\n')[1], `Node.js v${pinnedNode().version} linux/${target}`);
    });
  }

  it('SHA256SUMS lists both, and sha256sum -c agrees', () => {
    const sums = execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: DIST, encoding: 'utf8' });
    assert.deepEqual(
      sums.trim().split('\n').sort(),
      Object.keys(TARGETS).map((t) => `image-cri-shim-linux-${t}: OK`),
    );
  });
});

describe('the arm64 executable under qemu, alone in an empty directory', () => {
  const tmp = tempDir('arm64');
  const node = join(tmp.path, 'node');
  const exe = join(node, 'image-cri-shim');
  let world: AppWorld;

  before(async () => {
    mkdirSync(node);
    copyFileSync(executable('arm64'), exe);
    world = await createAppWorld(tmp.path, 'arm', 'arm-pass-64', 'pulled through the arm64 executable');
  });

  after(async () => {
    await world?.teardown();
    tmp.remove();
  });

  it('serves crictl v1.26.1 (the socket path as :authority): version, a rewritten pull with credentials', async () => {
    const socket = join(node, 'shim.sock');
    const file = join(node, 'image-cri-shim.yaml');
    writeFileSync(file, world.config(socket), { mode: 0o600 });
    const [cmd, args] = command('arm64', exe, ['-f', file]);
    const shim = startProc(cmd, args, { env: { PATH: '/usr/bin:/bin', HOME: node }, cwd: node });
    try {
      await waitFor('listening', () => shim.output().includes('image-cri-shim listening on'), 60_000);
      assert.match(shim.output(), new RegExp(`Node\\.js v${pinnedNode().version} linux/arm64`));
      assert.match(await crictlOk(socket, 'version'), /RuntimeName:\s+containerd/);
      assert.match(await crictlOk(socket, 'pull', 'app:v1'), new RegExp(world.appId));
      assert.match(shim.output(), /priority match: image=app:v1 action=PullImage/);
      assert.ok(!shim.output().includes(world.registry.password));
    } finally {
      await shim.stop();
    }
  });
});
