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
import { PROBE_OUTCOME } from '../errors.js';
import { detectRuntimeSocket } from '../cri/runtime-socket.js';
import { runtimeVersion } from '../cri/runtime-info.js';
import { RuntimeConnection } from '../cri/upstream.js';
import type { KubeClient } from '../kube/api-client.js';
import { connectCluster, findCluster, type ClusterCredentials } from '../kube/cluster.js';
import { WatchedKey } from '../kube/watched-key.js';
import { AUTH_SECRET_KEY } from '../kube/credentials-secret.js';
import {
  parseDockerConfig,
  servedBySecret,
  withSecretCredentials,
  type CredentialsByHost,
} from '../registry/docker-config.js';
import { type Credentials, describeTrust, type Registry } from '../registry/registry.js';
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
  /** Each registry asked with the credentials the shim would use (its own, else the Secret's). */
  const registryCheck = async (r: Registry, fromSecret: boolean): Promise<Row> => {
    const name = `registry ${r.address} (priority ${r.priority}${r.offline ? ', offline' : ''})`;
    const o = await client.check(r, CHECK_TIMEOUT_MS);
    const ms = `${Math.round(o.ms)} ms`;
    const trust = `${r.apiOrigin}, trust from ${describeTrust(r.trust)}`;
    const credentials = fromSecret ? 'credentials from the Secret' : 'credentials';
    if (o.status === 'found') {
      const access = r.credentials ? `${credentials} accepted` : 'anonymous access';
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
        `${ms}, ${r.credentials ? `${credentials} rejected` : 'credentials required'} ` + `(${o.detail}); ${trust}`,
      ];
    const tlsHint =
      /certificate|self.signed|CERT_|UNABLE_TO/i.test(o.detail) && r.trust.from === 'system'
        ? `; the runtime has no settings for it either: add ${join(config.hostsDir, r.domain, 'hosts.toml')} with ` +
          `its ca (containerd), or caFile in the shim config`
        : '';
    return [name, 'FAIL', `${PROBE_OUTCOME[o.status].words}: ${o.detail}; ${trust}${tlsHint}`];
  };

  const noSecret = new Map<string, Credentials>();
  const kubeChecks = async (): Promise<{ rows: Row[]; byHost: CredentialsByHost }> => {
    let cluster: ClusterCredentials;
    try {
      cluster = findCluster(env);
    } catch (e) {
      return {
        rows: [['kubernetes API', 'skip', `${(e as Error).message}; the local file alone is used`]],
        byHost: noSecret,
      };
    }
    let client: KubeClient;
    try {
      client = await connectCluster(cluster, env);
    } catch (e) {
      return { rows: [['kubernetes API', 'FAIL', `${cluster.source}: ${(e as Error).message}`]], byHost: noSecret };
    }
    let data: string | undefined;
    try {
      data = await readOnce(client, 'configmaps', CONFIGMAP_NAMESPACE, CONFIGMAP_NAME, CONFIGMAP_KEY);
    } catch (e) {
      return { rows: [['kubernetes API', 'FAIL', `${cluster.source}: ${(e as Error).message}`]], byHost: noSecret };
    }
    const api: Row = ['kubernetes API', 'ok', cluster.source];
    const secret = await secretCheck(client);
    await client.close();
    return { rows: [api, configMapRow(data), secret.row], byHost: secret.byHost };
  };

  /** Whether the credentials Secret is there and which configured registries it serves; never the credentials. */
  const secretCheck = async (client: KubeClient): Promise<{ row: Row; byHost: CredentialsByHost }> => {
    const ref = config.authSecret;
    const row = (...r: Row) => ({ row: r, byHost: noSecret });
    if (!ref) return row('credentials secret', 'skip', 'authSecret is "": registry credentials from the config only');
    const label = `secret ${ref.namespace}/${ref.name}`;
    let data: string | undefined;
    try {
      data = await readOnce(client, 'secrets', ref.namespace, ref.name, AUTH_SECRET_KEY);
    } catch (e) {
      return row(label, 'FAIL', (e as Error).message);
    }
    if (data === undefined)
      return row(label, 'ok', `not present (or no ${AUTH_SECRET_KEY} key): registry credentials from the config only`);
    let byHost: CredentialsByHost;
    try {
      byHost = parseDockerConfig(data, label);
    } catch (e) {
      return row(label, 'FAIL', (e as Error).message);
    }
    const served = servedBySecret(config.registries, byHost).map((r) => r.domain);
    const used = served.length
      ? served.join(', ')
      : 'none of the configured registries (each has its own auth or is not in it)';
    return { row: [label, 'ok', `present, credentials for ${byHost.size} registries; used for ${used}`], byHost };
  };

  const [runtime, kube] = await Promise.all([runtimeCheck(), kubeChecks()]);
  // Each checked with the credentials it would use: the Secret's where the config gives none.
  const ordered = orderRegistries(config.registries);
  const registries = await Promise.all(
    withSecretCredentials(ordered, kube.byHost).map((r, i) => registryCheck(r, r !== ordered[i])),
  );
  await client.close();
  rows.push(runtime, ...registries, ...kube.rows);
  return report(rows);
}

/** One read of a ConfigMap's or Secret's key, bounded by the check timeout. */
function readOnce(
  client: KubeClient,
  resource: 'configmaps' | 'secrets',
  namespace: string,
  name: string,
  key: string,
): Promise<string | undefined> {
  const options = { resource, namespace, name, key, pollIntervalMs: () => 0, listTimeoutMs: CHECK_TIMEOUT_MS };
  return new WatchedKey(client, { ...options, onChange: async () => {} }).current();
}

function configMapRow(data: string | undefined): Row {
  if (data === undefined)
    return [CONFIGMAP_SOURCE, 'ok', `not present (or no ${CONFIGMAP_KEY} key): the local file alone is used`];
  try {
    const { fields, warnings } = parseConfigMapData(data);
    const what = `present, parses${fields.registries ? ` (${fields.registries.length} registries)` : ''}`;
    return [CONFIGMAP_SOURCE, 'ok', warnings.length ? `${what}; warnings: ${warnings.join('; ')}` : what];
  } catch (e) {
    return [CONFIGMAP_SOURCE, 'FAIL', (e as Error).message];
  }
}

function report(rows: Row[]): { text: string; ok: boolean } {
  const ok = rows.every((r) => r[1] !== 'FAIL');
  return {
    text: table(['CHECK', 'RESULT', 'DETAIL'], rows) + (ok ? '\nall checks passed\n' : '\nsome checks failed\n'),
    ok,
  };
}
