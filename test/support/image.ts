// Tiny OCI images built by the tests (one layer, one file) and pushed with skopeo.

import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';

function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function writeBlob(layout: string, data: Buffer | string): { digest: string; size: number } {
  const digest = sha256(data);
  writeFileSync(join(layout, 'blobs', 'sha256', digest.slice(7)), data);
  return { digest, size: Buffer.byteLength(data) };
}

/** Commands a runnable test image gets from Debian's static busybox. */
const BUSYBOX_APPLETS = ['sh', 'sleep', 'echo', 'cat'];

/** What a runnable image holds besides /hello.txt. */
export interface ImageExtras {
  /** Every applet busybox has (`busybox --list`), not only sh, sleep, echo and cat. */
  readonly allApplets?: boolean;
  /** The image's USER (`uid`, `name`, `uid:gid`, `name:gid`). */
  readonly user?: string;
  /** More files, by path in the image (e.g. `etc/passwd`). */
  readonly files?: Readonly<Record<string, string>>;
}

/**
 * Builds an OCI layout at `layout` holding one image tagged `tag` whose file /hello.txt holds
 * `content`; different content gives a different image ID. With `cmd`, the image also holds
 * /bin/busybox (Debian's busybox-static) and its sh, sleep, echo and cat (or, with
 * `extras.allApplets`, every applet), and runs `cmd`.
 */
export function buildImage(
  layout: string,
  content: string,
  tag = 'latest',
  cmd?: string[],
  extras: ImageExtras = {},
): { imageId: string } {
  const staging = join(layout, '..', `${tag}-rootfs-${process.pid}`);
  mkdirSync(staging, { recursive: true });
  writeFileSync(join(staging, 'hello.txt'), `${content}\n`);
  const files = ['hello.txt'];
  if (cmd) {
    mkdirSync(join(staging, 'bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(staging, 'bin', 'busybox'));
    const applets = extras.allApplets
      ? execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean)
      : BUSYBOX_APPLETS;
    for (const applet of applets)
      if (!existsSync(join(staging, 'bin', applet))) symlinkSync('busybox', join(staging, 'bin', applet));
    files.push('bin');
  }
  for (const [path, text] of Object.entries(extras.files ?? {})) {
    mkdirSync(dirname(join(staging, path)), { recursive: true });
    writeFileSync(join(staging, path), text);
    const top = path.split('/')[0]!;
    if (!files.includes(top)) files.push(top);
  }
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  const layerGz = execFileSync(
    'tar',
    ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '-czf', '-', '-C', staging, ...files],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const layer = writeBlob(layout, layerGz);
  const config = writeBlob(
    layout,
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: cmd ?? ['/hello.txt'], Env: ['PATH=/bin'], ...(extras.user ? { User: extras.user } : {}) },
      rootfs: { type: 'layers', diff_ids: [sha256(gunzipSync(layerGz))] },
    }),
  );
  const manifest = writeBlob(
    layout,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
    }),
  );
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const indexPath = join(layout, 'index.json');
  let index: { schemaVersion: number; manifests: unknown[] } = { schemaVersion: 2, manifests: [] };
  try {
    index = JSON.parse(readFileSync(indexPath, 'utf8')) as typeof index;
  } catch {
    // new layout
  }
  index.manifests.push({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    ...manifest,
    annotations: { 'org.opencontainers.image.ref.name': tag },
  });
  writeFileSync(indexPath, JSON.stringify(index));
  return { imageId: config.digest };
}

/**
 * Pushes `layout:tag` to `dest` (host:port/repo:tag) over plain HTTP; returns the manifest digest.
 * Asynchronous: the token issuer answering skopeo may live in this very process.
 */
export async function pushImage(layout: string, tag: string, dest: string, creds?: string): Promise<string> {
  const digestFile = join(layout, '..', `digest-${process.pid}-${Date.now()}`);
  const args = ['--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', '--digestfile', digestFile];
  if (creds) args.push('--dest-creds', creds);
  args.push(`oci:${layout}:${tag}`, `docker://${dest}`);
  await promisify(execFile)('skopeo', args, { env: { ...process.env, HOME: join(layout, '..') } });
  return readFileSync(digestFile, 'utf8').trim();
}
