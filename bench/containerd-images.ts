// Thousands of image names for the runtime, cheaply: every name points at one image already
// pulled, made through containerd's images API as the shim's original names are.

import { RuntimeConnection } from '../src/cri/upstream.js';
import { ContainerdImages } from '../src/runtime/containerd-images.js';

/** Creates `names` in containerd's CRI namespace, all pointing at the image `source`. */
export async function tagMany(socket: string, source: string, names: string[]): Promise<void> {
  const conn = new RuntimeConnection(socket);
  const images = new ContainerdImages(conn, 30_000);
  try {
    const image = await images.get(source);
    if (!image) throw new Error(`containerd has no image ${source}`);
    for (let i = 0; i < names.length; i += 50)
      await Promise.all(names.slice(i, i + 50).map((name) => images.point(name, image)));
  } finally {
    conn.close();
  }
}
