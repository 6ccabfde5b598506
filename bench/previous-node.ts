// The executable as it was before the move to the pinned Node.js LTS: the same bundles and loader
// (dist/sea, from npm run package) on the machine's own, older Node.js, with its own V8 code
// cache, injected with postject as that Node requires. Only the bench builds it, to put the new
// executable's start-up and memory beside the old one's in the same run.

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ASSET } from '../scripts/sea/bundle.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SEA = join(ROOT, 'dist', 'sea');

/** A Node.js on PATH older than this one (the machine's own), with its version; undefined when there is none. */
export function previousNode(): { node: string; version: string } | undefined {
  const major = (v: string) => Number(/^v(\d+)/.exec(v)?.[1]);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const node = join(dir, 'node');
    if (!dir || dir.includes('node_modules') || !existsSync(node)) continue;
    const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
    if (major(version) < major(process.version)) return { node, version };
  }
  return undefined;
}

/** Builds the executable on `node` into `dir`; returns its path. */
export function buildPreviousExecutable(node: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const shim = join(SEA, ASSET.shim);
  const cache = join(dir, 'code-cache.bin');
  execFileSync(node, [join(ROOT, 'dist', 'scripts', 'sea', 'code-cache.js'), shim, cache], {
    env: { PATH: process.env.PATH, NODE_OPTIONS: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const blob = join(dir, 'sea-prep.blob');
  const config = join(dir, 'sea-config.json');
  writeFileSync(
    config,
    JSON.stringify({
      main: join(SEA, 'loader.cjs'),
      output: blob,
      disableExperimentalSEAWarning: true,
      useCodeCache: false,
      assets: { [ASSET.shim]: shim, [ASSET.undici]: join(SEA, ASSET.undici), [ASSET.codeCache('')]: cache },
    }),
  );
  execFileSync(node, ['--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exe = join(dir, 'image-cri-shim');
  copyFileSync(node, exe);
  execFileSync(
    process.execPath,
    [
      join(ROOT, 'node_modules', 'postject', 'dist', 'cli.js'),
      exe,
      'NODE_SEA_BLOB',
      blob,
      '--sentinel-fuse',
      'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return exe;
}
