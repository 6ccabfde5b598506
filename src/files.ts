// Every file the shim reads, whoever names it (its config, a kubeconfig and the files that names,
// the in-cluster token and CA, the runtime's hosts.toml and the CA and client files in it,
// registries.conf, a registry's caFile), is read here: only a regular file of at most a bound,
// opened without blocking (opening a FIFO for reading would wait for a writer), and read
// through libuv's thread pool, never on the event loop. Anything else is refused with the
// file and the reason, before a byte of it is read.

import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { FileRefusedError } from './errors.js';

/** Bounds by kind of file: no real one comes near them. */
export const FILE_LIMIT = {
  /** A kubeconfig (admin.conf with its certificates inline is about 6 KiB). */
  kubeconfig: 1024 * 1024,
  /** A PEM bundle: CAs, client certificates and keys (the whole system CA store is about 200 KiB). */
  pem: 1024 * 1024,
  /** A bearer token (a service account token is about 1 KiB). */
  token: 64 * 1024,
  /** The runtime's registry settings: containerd hosts.toml, CRI-O registries.conf. */
  runtimeSettings: 256 * 1024,
} as const;

const describeBytes = (n: number) => (n >= 1 << 20 ? `${n >> 20} MiB` : `${n >> 10} KiB`);

/** The bytes of `path` when it is a regular file of at most `maxBytes`; throws FileRefusedError. */
export async function readBoundedFile(path: string, maxBytes: number): Promise<Buffer> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code;
    throw new FileRefusedError(path, errno === 'ENOENT' ? 'does not exist' : `cannot be opened (${errno})`, errno);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new FileRefusedError(path, 'not a regular file; not read');
    // One octet more than allowed: a file that grew past its stat size is still caught.
    const buf = Buffer.alloc(Math.min(st.size, maxBytes) + 1);
    let read = 0;
    for (let n = -1; n !== 0 && read < buf.length; read += n)
      n = (await handle.read(buf, read, buf.length - read, read)).bytesRead;
    if (read > maxBytes)
      throw new FileRefusedError(path, `larger than ${describeBytes(maxBytes)}; no such file is that large, not read`);
    return buf.subarray(0, read);
  } finally {
    await handle.close();
  }
}
