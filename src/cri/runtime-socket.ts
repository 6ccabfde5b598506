import { existsSync } from 'node:fs';
import { DEFAULTS } from '../config/types.js';

/** The runtime socket: as configured, else the one well-known socket that exists. */
export function detectRuntimeSocket(configured: string | undefined, exists: (p: string) => boolean = existsSync): string {
  if (configured) return configured;
  const found = DEFAULTS.runtimeSockets.filter(exists);
  if (found.length === 1) return found[0]!;
  if (found.length === 0) throw new Error(`no runtime socket found (looked for ${DEFAULTS.runtimeSockets.join(', ')}); set "cri" in the config`);
  throw new Error(`several runtime sockets found (${found.join(', ')}); set "cri" in the config to choose one`);
}
