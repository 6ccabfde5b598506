// The shim's socket file: it appears at its path in one step, already with its final mode and
// owner; a stale one from a crash is replaced; on shutdown it is removed only if it is still
// the one this process made. Nothing else at that path is ever deleted: a regular file there
// is an operator's, a live socket another shim's.
//
// The socket is bound under a temporary name and renamed into place, because libuv unlinks a
// listening socket's path by name when it closes: bound at the final path, a stopping shim
// would remove whatever is there by then, such as a newer shim's socket.

import { chownSync, lstatSync, mkdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { lstat, unlink } from 'node:fs/promises';
import net from 'node:net';
import { dirname } from 'node:path';
import { log } from '../log.js';
import { ShimSocketError } from '../errors.js';

/** Identity of the socket file this process created (an inode number alone may be reused at once). */
export interface SocketFile {
  readonly path: string;
  readonly dev: bigint;
  readonly ino: bigint;
  readonly ctimeNs: bigint;
}

/** Mode bits the socket must not have: it is created rw for owner and group only (0660). */
const SOCKET_UMASK = 0o117;

/**
 * Makes the directory (0711) and has `server` listen on `path`: the socket is created 0660
 * (the umask is narrowed around the bind), given the owner and group of `ownerOf` (the runtime
 * socket), then renamed over any stale socket at `path`.
 */
export async function listenOnSocketFile(server: net.Server, path: string, ownerOf: string): Promise<SocketFile> {
  // Synchronous file calls: this runs once, before serving, where each thread-pool round trip
  // would only delay the first answer.
  mkdirSync(dirname(path), { recursive: true, mode: 0o711 });
  await refuseTakenPath(path);
  const bound = `${path}.${process.pid}`;
  try {
    unlinkSync(bound);
  } catch {}
  const umask = process.umask(SOCKET_UMASK);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(bound, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(umask);
  }
  try {
    const owner = statSync(ownerOf);
    chownSync(bound, owner.uid, owner.gid);
  } catch (e) {
    log.warn(`cannot copy owner of ${ownerOf} to ${path}: ${(e as Error).message}`);
  }
  renameSync(bound, path);
  const st = lstatSync(path, { bigint: true });
  return { path, dev: st.dev, ino: st.ino, ctimeNs: st.ctimeNs };
}

/**
 * Removes the socket file once this process has stopped listening, if it is still the one it
 * created and nobody listens on it: a newer shim may own the path now.
 */
export async function removeOwnSocket(file: SocketFile): Promise<void> {
  const st = await lstat(file.path, { bigint: true }).catch(() => undefined);
  if (!st?.isSocket() || st.dev !== file.dev || st.ino !== file.ino || st.ctimeNs !== file.ctimeNs) return;
  if (await listening(file.path)) return;
  await unlink(file.path).catch(() => {});
}

/** A socket nobody listens on is left from a crash (it will be replaced); a live one, or anything else, is an error. */
async function refuseTakenPath(path: string): Promise<void> {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return;
  if (!st.isSocket())
    throw new ShimSocketError(
      `${path} exists and is not a socket; not replacing it (set "shim" to another path or remove it)`,
    );
  if (await listening(path)) throw new ShimSocketError(`socket already in use: ${path}`);
}

function listening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}
