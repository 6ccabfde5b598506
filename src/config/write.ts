// Atomic config writes: a crash or power cut at any moment leaves either the old file or the
// new one, never a truncated mix. Temp file in the same directory, fsync, rename, fsync dir.

import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export async function writeFileAtomic(path: string, text: string, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const file = await open(tmp, 'wx', mode);
  try {
    await file.writeFile(text, 'utf8');
    await file.sync();
  } catch (e) {
    await file.close();
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await file.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
