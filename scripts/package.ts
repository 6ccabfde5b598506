// npm run package: one Linux executable per architecture, each holding the pinned Node.js
// release (see node-release.ts) and the bundled program (Node's single executable application
// support). Installing one is copying it.
//
//   dist/image-cri-shim-linux-amd64, dist/image-cri-shim-linux-arm64   the executables
//   dist/SHA256SUMS                                                     `sha256sum -c` checks them
//   dist/image-cri-shim                                                 the build machine's (tests, unit)
//
//   1. esbuild bundles src/cli.ts and its dependencies into one CommonJS file (the version baked
//      in, as there is no package.json beside the executable), undici into another (compiled
//      only when the first registry probe needs it), and the loader that starts them;
//   2. V8's code cache for the shim bundle is built with no NODE_OPTIONS, and again with the
//      systemd unit's when it sets some (a cache is accepted only under the flags it was built
//      with). It is built by running the shim, so only for the build machine's architecture: the
//      other one compiles the bundle at start;
//   3. each architecture's Node.js binary, its debug information stripped, is the base that
//      `node --build-sea` writes the program into.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { build, type BuildOptions, type Plugin } from 'esbuild';
import { ASSET, UNDICI_REQUEST } from './sea/bundle.js';
import { hostTarget, nodeBinary, pinnedNode, ROOT, type Target, TARGETS } from './node-release.js';
import { unitNodeOptions } from './unit.js';

const root = ROOT;
const out = join(root, 'dist', 'sea');
const exe = join(root, 'dist', 'image-cri-shim');
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node26',
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

const host = hostTarget();
const { version: nodeVersion } = pinnedNode();
if (process.version !== `v${nodeVersion}`)
  throw new Error(`run by Node.js ${process.version}, not the pinned v${nodeVersion}: use npm run package`);
const bundled: Record<string, string> = { [ASSET.shim]: shim, [ASSET.undici]: undici };
const codeCaches: Record<string, string> = {};
for (const [i, nodeOptions] of [...new Set(['', unitNodeOptions()])].entries()) {
  const cache = join(out, `code-cache-${i}.bin`);
  execFileSync(process.execPath, [join(root, 'dist', 'scripts', 'sea', 'code-cache.js'), shim, cache], {
    env: { PATH: process.env.PATH, NODE_OPTIONS: nodeOptions },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  codeCaches[ASSET.codeCache(nodeOptions)] = cache;
}

/** Builds dist/image-cri-shim-linux-TARGET from the pinned Node.js binary for TARGET. */
function executable(target: Target): string {
  const base = join(out, `node-${target}`);
  copyFileSync(nodeBinary(target, join(root, 'node_modules', '.cache', 'image-cri-shim')), base);
  chmodSync(base, 0o755);
  // binutils warns about the many notes in Node's binary; the result is checked by the tests.
  execFileSync(TARGETS[target].strip, ['--strip-all', base], { stdio: ['ignore', 'ignore', 'pipe'] });
  const output = join(root, 'dist', `image-cri-shim-linux-${target}`);
  const seaConfig = join(out, `sea-config-${target}.json`);
  writeFileSync(
    seaConfig,
    JSON.stringify({
      main: loader,
      executable: base,
      output,
      disableExperimentalSEAWarning: true,
      // The loader compiles the bundle with its own cache (see sea/loader.ts).
      useCodeCache: false,
      assets: target === host ? { ...bundled, ...codeCaches } : bundled,
    }),
  );
  rmSync(output, { force: true });
  execFileSync(process.execPath, ['--build-sea', seaConfig], { stdio: ['ignore', 'ignore', 'inherit'] });
  chmodSync(output, 0o755);
  rmSync(base);
  return output;
}

const built = (Object.keys(TARGETS) as Target[]).map((target) => ({ target, file: executable(target) }));
writeFileSync(
  join(root, 'dist', 'SHA256SUMS'),
  built
    .map(({ file }) => `${createHash('sha256').update(readFileSync(file)).digest('hex')}  ${basename(file)}\n`)
    .join(''),
);
rmSync(exe, { force: true });
copyFileSync(built.find((b) => b.target === host)!.file, exe);
chmodSync(exe, 0o755);
for (const { target, file } of built)
  process.stdout.write(
    `${file}: image-cri-shim ${version}, linux/${target}, ${(statSync(file).size / 1048576).toFixed(1)} MiB ` +
      `(Node.js v${nodeVersion} inside${target === host ? ', with a V8 code cache' : ''})\n`,
  );
