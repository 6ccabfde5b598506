// npm run package: dist/image-cri-shim, one Linux executable holding the Node.js runtime and the
// bundled program (Node's single executable application support). Installing it is copying it.
//
//   1. esbuild bundles src/cli.ts and every dependency into one CommonJS file (SEA runs
//      CommonJS; the version is baked in, as there is no package.json beside the executable);
//   2. node --experimental-sea-config turns it into a blob (without V8's code cache: Node refuses
//      the cache, with a warning, whenever NODE_OPTIONS differs from the build's, and the unit sets
//      a heap cap; it saved about 20 ms of start-up when accepted);
//   3. postject injects the blob into a copy of this Node.js binary.

import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../../', import.meta.url));
const out = join(root, 'dist', 'sea');
const exe = join(root, 'dist', 'image-cri-shim');
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const bundle = join(out, 'image-cri-shim.cjs');
await build({
  entryPoints: [join(root, 'src', 'cli.ts')],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outfile: bundle,
  define: { __IMAGE_CRI_SHIM_VERSION__: JSON.stringify(version) },
  legalComments: 'none',
  minify: true,
  logLevel: 'warning',
  // version.ts reads package.json through import.meta only when no version is baked in.
  logOverride: { 'empty-import-meta': 'silent' },
});
const seaConfig = join(out, 'sea-config.json');
const blob = join(out, 'sea-prep.blob');
writeFileSync(
  seaConfig,
  JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: false }),
);
execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: 'inherit' });
rmSync(exe, { force: true });
copyFileSync(process.execPath, exe);
execFileSync(
  process.execPath,
  [
    join(root, 'node_modules', 'postject', 'dist', 'cli.js'),
    exe,
    'NODE_SEA_BLOB',
    blob,
    '--sentinel-fuse',
    'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
  ],
  { stdio: 'inherit' },
);
chmodSync(exe, 0o755);
process.stdout.write(
  `${exe}: image-cri-shim ${version}, ${(statSync(exe).size / 1048576).toFixed(1)} MiB (Node.js ${process.version} ` +
    `inside)\n`,
);
