// Builds V8's code cache for the bundled shim under the NODE_OPTIONS this process runs with
// (run by package.ts once per option set it ships a cache for). The shim is started for real
// first, against a stand-in runtime in a temp dir, and answers one call, so the cache holds the
// start-up path already compiled, not only the bundle's top level.
//
//   node dist/scripts/sea/code-cache.js BUNDLE OUT

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ASSET, type CommonJsBody, compileCommonJs } from './bundle.js';

const [bundle, out] = process.argv.slice(2) as [string, string];
const dir = mkdtempSync(join(tmpdir(), 'ics-code-cache-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

// A runtime that answers every call with an empty message, status OK.
const runtimeSocket = join(dir, 'runtime.sock');
const runtime = http2.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/grpc' });
  res.addTrailers({ 'grpc-status': '0' });
  res.end(Buffer.alloc(5));
});
await new Promise<void>((resolve) => runtime.listen(runtimeSocket, resolve));

const shimSocket = join(dir, 'shim.sock');
const config = join(dir, 'config.yaml');
writeFileSync(config, `shim: ${shimSocket}\ncri: ${runtimeSocket}\naddress: http://127.0.0.1:1\n`, { mode: 0o600 });
// A kubeconfig that names no cluster: the build machine's own cluster is never asked.
const kubeconfig = join(dir, 'kubeconfig');
writeFileSync(kubeconfig, 'apiVersion: v1\nkind: Config\n', { mode: 0o600 });
process.env.KUBECONFIG = kubeconfig;
process.argv = [process.execPath, 'image-cri-shim', '-f', config];

const script = compileCommonJs(ASSET.shim, readFileSync(bundle, 'utf8'));
const body = script.runInThisContext() as CommonJsBody;
const module = { exports: {} };
body(module.exports, createRequire(import.meta.url), module, bundle, dir);

/** Calls Version through the shim until it answers (it listens once its start-up is done). */
async function version(deadline: number): Promise<void> {
  for (;;) {
    const answered = await new Promise<boolean>((resolve) => {
      const session = http2.connect('http://localhost', { createConnection: () => net.connect(shimSocket) });
      session.once('error', () => resolve(false));
      const call = session.request({
        ':method': 'POST',
        ':path': '/runtime.v1.RuntimeService/Version',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      call.once('error', () => resolve(false));
      call.once('close', () => {
        session.destroy();
        resolve(call.rstCode === 0);
      });
      call.resume();
      call.end(Buffer.alloc(5));
    });
    if (answered) return;
    if (Date.now() > deadline) throw new Error('the shim did not answer within 30 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}

await version(Date.now() + 30_000);
writeFileSync(out, script.createCachedData());
process.exit(0);
