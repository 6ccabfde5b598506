// Which runtime socket to use, as the Go image-cri-shim decides (pkg/cri DetectCRISocket): the
// configured one, else the one well-known socket that exists, looked for in the Go shim's order;
// none → containerd's path (whether to wait for it is `force`'s to decide); several → an error.

import { statSync } from 'node:fs';
import { DEFAULTS } from '../config/types.js';
import { RuntimeSocketError } from '../errors.js';

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

export function detectRuntimeSocket(configured: string | undefined, exists: (p: string) => boolean = isSocket): string {
  if (configured) return configured;
  const found = DEFAULTS.runtimeSockets.filter(exists);
  if (found.length === 0) return DEFAULTS.containerdSocket;
  if (found.length === 1) return found[0]!;
  throw new RuntimeSocketError(
    `found multiple CRI sockets (${found.join(', ')}); set "cri" in the config to choose one`,
  );
}
