// The shim's socket file: created with its final mode, a stale one from a crash replaced, and
// on shutdown removed only if it is still the one this process made. Nothing else at that
// path is ever deleted: a regular file there is an operator's, a live socket another shim's.

import { lstat, mkdir, unlink } from 'node:fs/promises';
import net from 'node:net';
import { dirname } from 'node:path';

/** Identity of the socket file this process created. */
export interface SocketFile {
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
}

/** Mode bits the socket must not have: it is created rw for owner and group only (0660). */
const SOCKET_UMASK = 0o117;

/**
 * Makes the directory (0711), clears a stale socket, and has `server` listen on `path` with the
 * socket created 0660 (the umask is narrowed around the bind, so it never exists more open).
 */
export async function listenOnSocketFile(server: net.Server, path: string): Promise<SocketFile> {
  await mkdir(dirname(path), { recursive: true, mode: 0o711 });
  await removeStaleSocket(path);
  const umask = process.umask(SOCKET_UMASK);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(umask);
  }
  const st = await lstat(path);
  return { path, dev: st.dev, ino: st.ino };
}

/** Removes the socket file if it is still the one created (a newer shim may own the path now). */
export async function removeOwnSocket(file: SocketFile): Promise<void> {
  const st = await lstat(file.path).catch(() => undefined);
  if (st?.isSocket() && st.dev === file.dev && st.ino === file.ino) await unlink(file.path).catch(() => {});
}

/** A socket file nobody listens on is left from a crash: remove it. A live one, or anything else, is an error. */
async function removeStaleSocket(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; not replacing it (set "shim" to another path or remove it)`);
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw new Error(`socket already in use: ${path}`);
  await unlink(path);
}
