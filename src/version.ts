import { readFileSync } from 'node:fs';

/** Set at build time in the single executable (`npm run package`), which has no package.json beside it. */
declare const __IMAGE_CRI_SHIM_VERSION__: string | undefined;

/** The package version: baked in, else read once from package.json (two levels up from dist/src/). */
export const VERSION: string =
  typeof __IMAGE_CRI_SHIM_VERSION__ === 'string'
    ? __IMAGE_CRI_SHIM_VERSION__
    : (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The Node.js release and architecture the shim runs on: in the executable, the one built into it. */
export const RUNTIME = `Node.js ${process.version} linux/${process.arch === 'x64' ? 'amd64' : process.arch}`;

/** Sent to registries so their access logs tell probes from the runtime's pulls. */
export const USER_AGENT = `image-cri-shim/${VERSION}`;
