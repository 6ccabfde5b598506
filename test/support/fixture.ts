// The shared end-to-end world: one containerd, three registries (htpasswd A and B, token C),
// one registry that answers manifests but cannot serve the image (D: a blob deleted), a closed
// port, a server that accepts and never answers, and one that answers garbage.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startContainerd, type TestContainerd } from './containerd.js';
import { CriClient } from './cri-client.js';
import { buildImage, pushImage } from './image.js';
import { FakeKubeApi } from './kube-api.js';
import { freePort, rawServer, tempDir } from './procs.js';
import { startRegistry, startTokenIssuer, type TestRegistry, type TokenIssuer } from './registry.js';

export interface World {
  readonly dir: string;
  readonly containerd: TestContainerd;
  readonly a: TestRegistry;
  readonly b: TestRegistry;
  readonly c: TestRegistry;
  readonly d: TestRegistry;
  readonly issuer: TokenIssuer;
  /** 127.0.0.1:PORT with nothing listening. */
  readonly downHost: string;
  /** Accepts connections and never answers. */
  readonly hangHost: string;
  /** Answers every request with bytes that are not HTTP. */
  readonly garbageHost: string;
  /** Image IDs of app:v1 as pushed to each registry (different content each). */
  readonly appId: Record<'a' | 'b' | 'c' | 'd', string>;
  readonly onlyCId: string;
  readonly digested: { digest: string; id: string };
  /** Passwords that must never appear in shim output. */
  readonly secrets: string[];
  teardown(): Promise<void>;
}

export async function createWorld(): Promise<World> {
  const tmp = tempDir('e2e');
  const dir = tmp.path;
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const containerd = await startContainerd(join(dir, 'containerd'));
    cleanups.push(() => containerd.stop());
    const issuer = await startTokenIssuer(join(dir, 'issuer'), 'carol', 'carol-token-pass', 'test-registry');
    cleanups.push(() => issuer.stop());
    const a = await startRegistry(join(dir, 'a'), 'htpasswd', { user: 'alice', password: 'alice-secret-pass' });
    cleanups.push(() => a.stop());
    const b = await startRegistry(join(dir, 'b'), 'htpasswd', { user: 'bob', password: 'bob-secret-pass' });
    cleanups.push(() => b.stop());
    const c = await startRegistry(join(dir, 'c'), 'token', { user: 'carol', password: 'carol-token-pass', issuer });
    cleanups.push(() => c.stop());
    const d = await startRegistry(join(dir, 'd'), 'none');
    cleanups.push(() => d.stop());
    for (const r of [a, b, c, d]) containerd.allowHttpRegistry(r.host);

    const hang = await rawServer(() => {});
    cleanups.push(() => hang.close());
    const garbage = await rawServer((s) => s.end('\x00\x01garbage that is not HTTP\r\n\r\n'));
    cleanups.push(() => garbage.close());

    const images = join(dir, 'images');
    mkdirSync(images, { recursive: true });
    const appId = {} as Record<'a' | 'b' | 'c' | 'd', string>;
    for (const [name, reg] of [
      ['a', a],
      ['b', b],
      ['c', c],
      ['d', d],
    ] as const) {
      const layout = join(images, `app-${name}`);
      appId[name] = buildImage(layout, `app served by registry ${name}`, 'v1').imageId;
      await pushImage(layout, 'v1', `${reg.host}/library/app:v1`, reg.creds);
    }
    d.deleteBlob(appId.d);
    const onlyC = join(images, 'only-c');
    const onlyCId = buildImage(onlyC, 'only in the token registry', 'v1').imageId;
    await pushImage(onlyC, 'v1', `${c.host}/library/only-c:v1`, c.creds);
    const digestedLayout = join(images, 'digested');
    const digestedId = buildImage(digestedLayout, 'pulled by digest', 'v1').imageId;
    const digest = await pushImage(digestedLayout, 'v1', `${b.host}/team/digested:v1`, b.creds);

    return {
      dir,
      containerd,
      a,
      b,
      c,
      d,
      issuer,
      downHost: `127.0.0.1:${await freePort()}`,
      hangHost: hang.host,
      garbageHost: garbage.host,
      appId,
      onlyCId,
      digested: { digest, id: digestedId },
      secrets: [a.password, b.password, c.password],
      async teardown() {
        for (const fn of cleanups.reverse()) await fn().catch(() => {});
        tmp.remove();
      },
    };
  } catch (e) {
    for (const fn of cleanups.reverse()) await fn().catch(() => {});
    tmp.remove();
    throw e;
  }
}

/** A world with the test API server beside it and a CRI client straight to its containerd. */
export interface ClusterWorld {
  readonly w: World;
  readonly api: FakeKubeApi;
  readonly direct: CriClient;
  teardown(): Promise<void>;
}

export async function createClusterWorld(): Promise<ClusterWorld> {
  const w = await createWorld();
  mkdirSync(join(w.dir, 'kube'));
  const api = await FakeKubeApi.start(join(w.dir, 'kube')).catch(async (e: unknown) => {
    await w.teardown();
    throw e;
  });
  const direct = new CriClient(w.containerd.socket);
  return {
    w,
    api,
    direct,
    async teardown() {
      direct.close();
      await api.stop();
      await w.teardown();
    },
  };
}

/** One password-protected registry holding `library/app:v1`, and a containerd that may pull from it. */
export interface AppWorld {
  readonly registry: TestRegistry;
  readonly containerd: TestContainerd;
  readonly appId: string;
  /** A shim config for `socket`: this containerd, the registry as the offline one with credentials, no fallback. */
  config(socket: string): string;
  teardown(): Promise<void>;
}

export async function createAppWorld(dir: string, user: string, password: string, content: string): Promise<AppWorld> {
  const registry = await startRegistry(join(dir, 'registry'), 'htpasswd', { user, password });
  try {
    const layout = join(dir, 'app');
    const appId = buildImage(layout, content, 'v1').imageId;
    await pushImage(layout, 'v1', `${registry.host}/library/app:v1`, registry.creds);
    const containerd = await startContainerd(join(dir, 'containerd'));
    containerd.allowHttpRegistry(registry.host);
    return {
      registry,
      containerd,
      appId,
      config: (socket) =>
        `shim: ${socket}\ncri: ${containerd.socket}\naddress: http://${registry.host}\nauth: ${registry.creds}\n` +
        'fallback: false\n',
      async teardown() {
        await containerd.stop();
        await registry.stop();
      },
    };
  } catch (e) {
    await registry.stop();
    throw e;
  }
}
