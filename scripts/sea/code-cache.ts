// Builds V8's code cache for the bundled shim under the NODE_OPTIONS this process runs with
// (run by package.ts once per option set it ships a cache for). The shim is started for real
// first, against a stand-in runtime in a temp dir, and answers one call, so the cache holds the
// start-up path already compiled, not only the bundle's top level.
//
//   node dist/scripts/sea/code-cache.js BUNDLE OUT

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answersVersion } from '../cri-version.js';
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

// The shim listens once its start-up is done; then one call goes through it to the runtime.
for (const deadline = Date.now() + 30_000; !(await answersVersion(shimSocket)); ) {
  if (Date.now() > deadline) throw new Error('the shim did not answer within 30 s');
  await new Promise((r) => setTimeout(r, 10));
}
writeFileSync(out, script.createCachedData());
process.exit(0);
