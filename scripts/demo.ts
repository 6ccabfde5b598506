// A local demo of the main job, on this machine only (127.0.0.1): a real containerd, an
// "offline" registry with a password and a higher-priority mirror, and the shim between
// containerd and a CRI client. Pulls "hello:v1" with no credentials and shows where it went.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startContainerd } from '../test/support/containerd.js';
import { CriClient } from '../test/support/cri-client.js';
import { buildImage, pushImage } from '../test/support/image.js';
import { runScript } from '../test/support/procs.js';
import { startRegistry } from '../test/support/registry.js';
import { startShim } from '../test/support/shim.js';

const say = (text: string) => process.stdout.write(`\n\x1b[1m==> ${text}\x1b[0m\n`);

runScript('demo', async (dir, defer) => {
  say('starting containerd (own root and socket, snapshotter native)');
  const containerd = await startContainerd(join(dir, 'containerd'));
  defer(() => containerd.stop());
  say('starting two registries on 127.0.0.1: "sealos.hub" (htpasswd) and a mirror');
  const hub = await startRegistry(join(dir, 'hub'), 'htpasswd', { user: 'admin', password: 'demo-password' });
  defer(() => hub.stop());
  const mirror = await startRegistry(join(dir, 'mirror'), 'htpasswd', { user: 'mirror', password: 'mirror-password' });
  defer(() => mirror.stop());
  containerd.allowHttpRegistry(hub.host);
  containerd.allowHttpRegistry(mirror.host);

  say(`pushing hello:v1 to the offline registry ${hub.host} only`);
  const images = join(dir, 'images');
  mkdirSync(images);
  buildImage(join(images, 'hello'), 'hello from the offline registry', 'v1');
  await pushImage(join(images, 'hello'), 'v1', `${hub.host}/library/hello:v1`, hub.creds);

  const config = `shim: ${join(dir, 'image-cri-shim.sock')}
cri: ${containerd.socket}
address: http://${hub.host}
auth: admin:demo-password
registries:
  - address: http://${mirror.host}
    auth: mirror:mirror-password
    priority: 2000
fallback: false
`;
  say('starting image-cri-shim with this config (the mirror has priority 2000 but lacks the image):');
  process.stdout.write(config.replace(/:(demo|mirror)-password/g, ':******'));
  const shim = await startShim(dir, config);
  defer(() => shim.stop());
  const cri = new CriClient(shim.socket);
  defer(async () => cri.close());

  say('crictl-style pull of "hello:v1" through the shim, with no credentials in the request');
  const { image_ref } = await cri.pullImage('hello:v1');
  process.stdout.write(`pulled: ${image_ref}\n`);
  const status = await cri.imageStatus('hello:v1');
  process.stdout.write(`containerd stored it as: ${status.image?.repo_tags.join(', ')}\n`);
  say('the shim log:');
  process.stdout.write(shim.output());
});
