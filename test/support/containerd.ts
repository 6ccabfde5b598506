// A real containerd (Debian package, CRI v1 and v1alpha2) with its own root, state and socket
// in a temp dir, snapshotter "native", and hosts.toml entries for the test registries (HTTP).

import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProc, waitForSocket, type Proc } from './procs.js';

/** Plugins that cannot run here or are not needed: snapshotters other than native, tracing. */
const DISABLED_PLUGINS = [
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.overlayfs',
  'io.containerd.internal.v1.tracing',
  'io.containerd.tracing.processor.v1.otlp',
];

export interface TestContainerd {
  readonly socket: string;
  readonly dir: string;
  /** Lets containerd pull from `host` (host:port) over plain HTTP. */
  allowHttpRegistry(host: string): void;
  /** Makes containerd pull images of `source` (e.g. "registry.k8s.io") from `host` over HTTP, or not (undefined). */
  mirror(source: string, host: string | undefined): void;
  /** Makes containerd trust `host`'s certificate (hosts.toml `ca`), or forget its entry (undefined). */
  trustRegistryCa(host: string, certFile: string | undefined): void;
  /** containerd's registry config_path (the hosts.toml directory). */
  readonly hostsDir: string;
  stop(): Promise<void>;
  kill9(): Promise<void>;
  start(): Promise<void>;
}

/**
 * A pod network that creates nothing on the host: the result names an eth0 with a loopback
 * address (the CRI plugin wants one) and the pod has only its own loopback, brought up by the
 * loopback plugin the CRI plugin adds itself. Enough for pods with a network namespace of their own.
 */
const CNI_STUB = `#!/bin/sh
case "$CNI_COMMAND" in
  ADD) cat >/dev/null
       printf '{"cniVersion":"0.4.0","interfaces":[{"name":"eth0","sandbox":"%s"}],' "$CNI_NETNS"
       printf '"ips":[{"version":"4","address":"127.0.0.2/32","interface":0}]}' ;;
  VERSION) printf '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0"]}' ;;
  *) cat >/dev/null ;;
esac
`;

function podNetwork(dir: string): string {
  const bin = join(dir, 'cni-bin');
  const conf = join(dir, 'cni-conf');
  mkdirSync(bin, { recursive: true });
  mkdirSync(conf, { recursive: true });
  symlinkSync('/usr/lib/cni/loopback', join(bin, 'loopback'));
  writeFileSync(join(bin, 'loopback-only'), CNI_STUB, { mode: 0o755 });
  writeFileSync(
    join(conf, '10-loopback-only.conflist'),
    JSON.stringify({ cniVersion: '0.4.0', name: 'loopback-only', plugins: [{ type: 'loopback-only' }] }),
  );
  return `  [plugins."io.containerd.grpc.v1.cri".cni]\n    bin_dir = "${bin}"\n    conf_dir = "${conf}"\n`;
}

/**
 * `sandboxImage`: the pause image pods start from (any image whose command sleeps), pulled by
 * containerd itself; needed only by tests that run pods. `podNetwork`: pods with a network
 * namespace of their own can start (see CNI_STUB).
 */
export async function startContainerd(
  dir: string,
  options: { sandboxImage?: string; podNetwork?: boolean } = {},
): Promise<TestContainerd> {
  mkdirSync(join(dir, 'certs.d'), { recursive: true });
  const socket = join(dir, 'containerd.sock');
  const config = join(dir, 'config.toml');
  writeFileSync(
    config,
    `version = 2
root = "${join(dir, 'root')}"
state = "${join(dir, 'state')}"
disabled_plugins = ${JSON.stringify(DISABLED_PLUGINS)}
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  disable_cgroup = true
  # runc cannot lower the OOM score adjustment in this sandbox; CRI would ask it to.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
${
  options.sandboxImage ? `  sandbox_image = ` + `"${options.sandboxImage}"\n` : ''
}  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "${join(dir, 'certs.d')}"
${options.podNetwork ? podNetwork(dir) : ''}`,
  );
  let proc: Proc | undefined;
  const start = async () => {
    proc = startProc('containerd', ['--config', config], { logFile: join(dir, 'containerd.log') });
    await waitForSocket(socket, 30_000);
  };
  await start();
  const mirror = (source: string, host: string | undefined) => {
    if (!host) return rmSync(join(dir, 'certs.d', source), { recursive: true, force: true });
    mkdirSync(join(dir, 'certs.d', source), { recursive: true });
    writeFileSync(
      join(dir, 'certs.d', source, 'hosts.toml'),
      `server = "http://${host}"\n[host."http://${host}"]\n  capabilities = ["pull", "resolve"]\n`,
    );
  };
  return {
    socket,
    dir,
    hostsDir: join(dir, 'certs.d'),
    allowHttpRegistry: (host) => mirror(host, host),
    mirror,
    trustRegistryCa(host, certFile) {
      if (!certFile) return rmSync(join(dir, 'certs.d', host), { recursive: true, force: true });
      mkdirSync(join(dir, 'certs.d', host), { recursive: true });
      writeFileSync(
        join(dir, 'certs.d', host, 'hosts.toml'),
        `server = "https://${host}"\n[host."https://${host}"]\n  capabilities = ["pull", "resolve"]\n  ca = ` +
          `"${certFile}"\n`,
      );
    },
    start,
    stop: async () => {
      await proc?.stop(10_000);
    },
    kill9: async () => {
      await proc?.kill9();
    },
  };
}
