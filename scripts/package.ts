// npm run package: dist/image-cri-shim, one Linux executable holding the Node.js runtime and the
// bundled program (Node's single executable application support). Installing it is copying it.
//
//   1. esbuild bundles src/cli.ts and its dependencies into one CommonJS file (the version baked
//      in, as there is no package.json beside the executable), undici into another (compiled
//      only when the first registry probe needs it), and the loader that starts them;
//   2. V8's code cache for the shim bundle is built with no NODE_OPTIONS, and again with the
//      systemd unit's when it sets some (a cache is accepted only under the flags it was built with);
//   3. node --experimental-sea-config makes the blob (the loader, the bundles and the caches as
//      assets) and postject injects it into a copy of this Node.js binary.

import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type Plugin } from 'esbuild';
import { ASSET, UNDICI_REQUEST } from './sea/bundle.js';
import { unitNodeOptions } from './unit.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const out = join(root, 'dist', 'sea');
const exe = join(root, 'dist', 'image-cri-shim');
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  legalComments: 'none',
  minify: true,
  logLevel: 'warning',
};
/**
 * `import('undici')` in the shim becomes a lazy require the loader answers from its asset
 * (esbuild would keep a dynamic import of an external module, which nothing could resolve).
 */
const undiciFromLoader: Plugin = {
  name: 'undici-from-loader',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, () => ({ path: 'undici', namespace: 'undici-from-loader' }));
    b.onLoad({ filter: /.*/, namespace: 'undici-from-loader' }, () => ({
      contents: `module.exports = require(${JSON.stringify(UNDICI_REQUEST)});`,
      loader: 'js',
    }));
    b.onResolve({ filter: new RegExp(`^${UNDICI_REQUEST}$`) }, (args) => ({ path: args.path, external: true }));
  },
};
const shim = join(out, ASSET.shim);
const undici = join(out, ASSET.undici);
const loader = join(out, 'loader.cjs');
await Promise.all([
  build({
    ...common,
    entryPoints: [join(root, 'src', 'cli.ts')],
    outfile: shim,
    plugins: [undiciFromLoader],
    define: { __IMAGE_CRI_SHIM_VERSION__: JSON.stringify(version) },
    // version.ts reads package.json through import.meta only when no version is baked in.
    logOverride: { 'empty-import-meta': 'silent' },
  }),
  build({ ...common, entryPoints: [createRequire(import.meta.url).resolve('undici')], outfile: undici }),
  build({ ...common, entryPoints: [join(root, 'scripts', 'sea', 'loader.ts')], outfile: loader }),
]);

const assets: Record<string, string> = { [ASSET.shim]: shim, [ASSET.undici]: undici };
for (const [i, nodeOptions] of [...new Set(['', unitNodeOptions()])].entries()) {
  const cache = join(out, `code-cache-${i}.bin`);
  execFileSync(process.execPath, [join(root, 'dist', 'scripts', 'sea', 'code-cache.js'), shim, cache], {
    env: { PATH: process.env.PATH, NODE_OPTIONS: nodeOptions },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  assets[ASSET.codeCache(nodeOptions)] = cache;
}

const seaConfig = join(out, 'sea-config.json');
const blob = join(out, 'sea-prep.blob');
writeFileSync(
  seaConfig,
  JSON.stringify({ main: loader, output: blob, disableExperimentalSEAWarning: true, useCodeCache: false, assets }),
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
