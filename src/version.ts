import { readFileSync } from 'node:fs';

/** The package version, read once from package.json (two levels up from dist/src/). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Sent to registries so their access logs tell probes from the runtime's pulls. */
export const USER_AGENT = `image-cri-shim/${VERSION}`;
