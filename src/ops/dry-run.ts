// `image-cri-shim --dry-run`: everything the shim depends on, checked once and reported as a
// table. Read-only: nothing is written, no socket is opened for listening.

import { existsSync } from 'node:fs';
import {
  CONFIGMAP_KEY,
  CONFIGMAP_NAME,
  CONFIGMAP_NAMESPACE,
  CONFIGMAP_SOURCE,
  parseConfigMapData,
} from '../config/configmap.js';
import { loadConfigFile } from '../config/load.js';
import { detectRuntimeSocket } from '../cri/runtime-socket.js';
import { runtimeVersion } from '../cri/runtime-info.js';
import { RuntimeConnection } from '../cri/upstream.js';
import type { KubeClient } from '../kube/api-client.js';
import { connectCluster, findCluster, type ClusterCredentials } from '../kube/cluster.js';
import { ConfigMapSource } from '../kube/configmap-source.js';
import { join } from 'node:path';
import { RegistryClient } from '../registry/client.js';
import { applyRuntimeTrust } from '../registry/runtime-trust.js';
import { orderRegistries } from '../rewrite/candidates.js';
import { table } from './table.js';

type Row = [check: string, result: 'ok' | 'FAIL' | 'skip', detail: string];

const CHECK_TIMEOUT_MS = 5000;

export async function dryRun(
  configPath: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ text: string; ok: boolean }> {
  const rows: Row[] = [];
  let loaded: Awaited<ReturnType<typeof loadConfigFile>>;
  try {
    loaded = await loadConfigFile(configPath, env);
    rows.push([
      `config ${configPath}`,
      'ok',
      `${loaded.config.registries.length} ` +
        `registries${loaded.warnings.length ? `; warnings: ${loaded.warnings.join('; ')}` : ''}`,
    ]);
  } catch (e) {
    rows.push([`config ${configPath}`, 'FAIL', (e as Error).message]);
    return report(rows);
  }
  const trusted = await applyRuntimeTrust(loaded.config.registries, loaded.config);
  if (trusted.warnings.length) rows.push(['runtime registry settings', 'ok', trusted.warnings.join('; ')]);
  const config = { ...loaded.config, registries: trusted.registries };

  const runtimeCheck = async (): Promise<Row> => {
    let socket: string;
    try {
      socket = detectRuntimeSocket(config.criSocket);
    } catch (e) {
      return ['runtime', 'FAIL', (e as Error).message];
    }
    if (!existsSync(socket)) return [`runtime ${socket}`, 'FAIL', 'socket does not exist'];
    const conn = new RuntimeConnection(socket);
    try {
      const info = await runtimeVersion(conn, CHECK_TIMEOUT_MS);
      return [`runtime ${socket}`, 'ok', `${info.name} ${info.version}, CRI ${info.criVersion}`];
    } catch (e) {
      return [`runtime ${socket}`, 'FAIL', (e as Error).message];
    } finally {
      conn.close();
    }
  };

  const client = new RegistryClient();
  const registryChecks = orderRegistries(config.registries).map(async (r): Promise<Row> => {
    const name = `registry ${r.address} (priority ${r.priority}${r.offline ? ', offline' : ''})`;
    const o = await client.check(r, CHECK_TIMEOUT_MS);
    const ms = `${Math.round(o.ms)} ms`;
    const trust = `${r.apiOrigin}, trust from ${r.trust}`;
    if (o.status === 'found') {
      const access = r.credentials ? 'credentials accepted' : 'anonymous access';
      const tls = r.apiOrigin.startsWith('https')
        ? r.tls.insecureSkipVerify
          ? ', TLS not verified'
          : ', TLS verified'
        : '';
      return [name, 'ok', `${ms}, ${access}${tls}; ${trust}`];
    }
    if (o.status === 'unauthorized')
      return [
        name,
        'FAIL',
        `${ms}, ${r.credentials ? 'credentials rejected' : 'credentials required'} (${o.detail}); ${trust}`,
      ];
    const tlsHint =
      /certificate|self.signed|CERT_|UNABLE_TO/i.test(o.detail) && r.trust === 'the system CAs'
        ? `; the runtime has no settings for it either: add ${join(config.hostsDir, r.domain, 'hosts.toml')} with ` +
          `its ca (containerd), or caFile in the shim config`
        : '';
    return [name, 'FAIL', `${o.status.replace('_', ' ')}: ${o.detail}; ${trust}${tlsHint}`];
  });

  const kubeChecks = async (): Promise<Row[]> => {
    let cluster: ClusterCredentials;
    try {
      cluster = findCluster(env);
    } catch (e) {
      return [['kubernetes API', 'skip', `${(e as Error).message}; the local file alone is used`]];
    }
    let client: KubeClient;
    try {
      client = await connectCluster(cluster, env);
    } catch (e) {
      return [['kubernetes API', 'FAIL', `${cluster.source}: ${(e as Error).message}`]];
    }
    const source = new ConfigMapSource(client, {
      namespace: CONFIGMAP_NAMESPACE,
      name: CONFIGMAP_NAME,
      key: CONFIGMAP_KEY,
      pollIntervalMs: () => 0,
      onChange: async () => {},
      listTimeoutMs: CHECK_TIMEOUT_MS,
    });
    let data: string | undefined;
    try {
      data = await source.current();
    } catch (e) {
      return [['kubernetes API', 'FAIL', `${cluster.source}: ${(e as Error).message}`]];
    }
    const api: Row = ['kubernetes API', 'ok', cluster.source];
    if (data === undefined)
      return [api, [CONFIGMAP_SOURCE, 'ok', `not present (or no ${CONFIGMAP_KEY} key): the local file alone is used`]];
    try {
      const { fields, warnings } = parseConfigMapData(data);
      const what = `present, parses${fields.registries ? ` (${fields.registries.length} registries)` : ''}`;
      return [api, [CONFIGMAP_SOURCE, 'ok', warnings.length ? `${what}; warnings: ${warnings.join('; ')}` : what]];
    } catch (e) {
      return [api, [CONFIGMAP_SOURCE, 'FAIL', (e as Error).message]];
    }
  };

  const [runtime, registries, kube] = await Promise.all([runtimeCheck(), Promise.all(registryChecks), kubeChecks()]);
  await client.close();
  rows.push(runtime, ...registries, ...kube);
  return report(rows);
}

function report(rows: Row[]): { text: string; ok: boolean } {
  const ok = rows.every((r) => r[1] !== 'FAIL');
  return {
    text: table(['CHECK', 'RESULT', 'DETAIL'], rows) + (ok ? '\nall checks passed\n' : '\nsome checks failed\n'),
    ok,
  };
}
