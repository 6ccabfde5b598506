// The Node options of the shipped systemd unit: the executable carries a code cache built for
// them, and the bench runs the shim with them.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const UNIT_FILE = fileURLToPath(new URL('../../deploy/image-cri-shim.service', import.meta.url));

export function unitNodeOptions(): string {
  return /^Environment=NODE_OPTIONS=(.*)$/m.exec(readFileSync(UNIT_FILE, 'utf8'))?.[1] ?? '';
}
