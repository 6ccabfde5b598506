// How the CLI ends on each error an operator can meet at start: `ERROR [CODE] message`, and the
// exit status of its kind, so a service manager or a script tells a bad configuration from a
// runtime that is not there. The stack is shown only with `debug: true`.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EXIT } from '../../src/errors.js';
import { startProc, tempDir } from '../support/procs.js';
import { CLI } from '../support/shim.js';

const tmp = tempDir('cli-errors');
let runtime: http2.Http2Server;
const runtimeSocket = join(tmp.path, 'runtime.sock');
let n = 0;

before(async () => {
  runtime = http2.createServer();
  await new Promise<void>((resolve) => runtime.listen(runtimeSocket, resolve));
});

after(async () => {
  await new Promise<void>((resolve) => runtime.close(() => resolve()));
  tmp.remove();
});

/** Runs the CLI with a config of `lines` (or no -f when undefined); its exit code and output. */
async function cli(args: string[], lines?: string[]): Promise<{ code: unknown; out: string }> {
  const dir = join(tmp.path, `run-${++n}`);
  mkdirSync(dir);
  const file = join(dir, 'image-cri-shim.yaml');
  if (lines) writeFileSync(file, `${[`shim: ${join(dir, 'shim.sock')}`, ...lines].join('\n')}\n`);
  const proc = startProc(process.execPath, [CLI, ...(lines ? ['-f', file] : []), ...args], {
    env: { PATH: process.env.PATH, HOME: dir, KUBECONFIG: '' },
  });
  const code = await proc.exited();
  return { code, out: proc.output() };
}

describe('the CLI on an error', () => {
  const cases: [string, () => Promise<{ code: unknown; out: string }>, string, number][] = [
    [
      'a configuration the shim refuses',
      () => cli([], [`cri: ${runtimeSocket}`, 'timeout: soon']),
      'ERR_CONFIG',
      EXIT.config,
    ],
    ['a command it does not take', () => cli(['frobnicate']), 'ERR_USAGE', EXIT.config],
    ['a flag it does not take', () => cli(['--no-such-flag']), 'ERR_USAGE', EXIT.config],
    [
      'a runtime socket that does not exist',
      () => cli([], [`cri: ${join(tmp.path, 'no-runtime.sock')}`, 'address: http://127.0.0.1:1']),
      'ERR_RUNTIME_SOCKET',
      EXIT.runtime,
    ],
    [
      'its own socket path held by a running shim',
      async () => {
        const dir = join(tmp.path, `busy-${++n}`);
        mkdirSync(dir);
        const busy = net.createServer();
        await new Promise<void>((resolve) => busy.listen(join(dir, 'shim.sock'), resolve));
        try {
          const file = join(dir, 'image-cri-shim.yaml');
          writeFileSync(file, `shim: ${join(dir, 'shim.sock')}\ncri: ${runtimeSocket}\naddress: http://127.0.0.1:1\n`);
          const proc = startProc(process.execPath, [CLI, '-f', file], { env: { PATH: process.env.PATH, HOME: dir } });
          return { code: await proc.exited(), out: proc.output() };
        } finally {
          busy.close();
        }
      },
      'ERR_SHIM_SOCKET',
      EXIT.shimSocket,
    ],
  ];
  for (const [what, run, code, exit] of cases) {
    it(`${what}: ERROR [${code}], exit ${exit}, no stack`, async () => {
      const { code: status, out } = await run();
      assert.equal(status, exit, out);
      assert.match(out, new RegExp(`ERROR \\[${code}\\] `));
      assert.doesNotMatch(out, /\n\s+at /, 'no stack without debug');
    });
  }

  it('shows the stack only with debug: true', async () => {
    const { code, out } = await cli(
      [],
      [`cri: ${join(tmp.path, 'none.sock')}`, 'address: http://127.0.0.1:1', 'debug: true'],
    );
    assert.equal(code, EXIT.runtime);
    assert.match(out, /ERROR \[ERR_RUNTIME_SOCKET\] /);
    assert.match(out, /DEBUG RuntimeSocketError: .*\n\s+at /);
  });
});
