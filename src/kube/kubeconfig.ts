// Cluster access from a kubeconfig file or the in-cluster service account: the server, the
// TLS trust, and the credentials (bearer token or token file, client certificate, basic auth,
// or an exec plugin's: client.authentication.k8s.io ExecCredential).

import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface ClusterAccess {
  /** https://host:port, without a trailing slash. */
  readonly server: string;
  /** PEM of the CAs to trust; undefined: the system's. */
  readonly ca: Buffer | undefined;
  readonly insecureSkipTlsVerify: boolean;
  /** The bearer token, read anew each time (service account tokens are rotated on disk). */
  readonly token: (() => string) | undefined;
  readonly clientCert: Buffer | undefined;
  readonly clientKey: Buffer | undefined;
  readonly basic: { username: string; password: string } | undefined;
  /** The kubeconfig's exec plugin, whose ExecCredential gives a token or a client certificate. */
  readonly exec: ExecPlugin | undefined;
}

export interface ExecPlugin {
  readonly apiVersion: string;
  readonly command: string;
  readonly args: string[];
  readonly env: Record<string, string>;
  /** Relative commands are run from the kubeconfig's directory, as kubectl does. */
  readonly dir: string;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function named(list: unknown, name: string | undefined, key: string): Obj {
  const entry = (Array.isArray(list) ? list : []).map(obj).find((e) => e.name === name);
  return obj(entry?.[key]);
}

export function inClusterAccess(env: NodeJS.ProcessEnv): ClusterAccess {
  const host = env.KUBERNETES_SERVICE_HOST!;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readFileSync(join(SERVICE_ACCOUNT_DIR, 'ca.crt')),
    insecureSkipTlsVerify: false,
    token: () => readFileSync(join(SERVICE_ACCOUNT_DIR, 'token'), 'utf8').trim(),
    clientCert: undefined,
    clientKey: undefined,
    basic: undefined,
    exec: undefined,
  };
}

/** Reads the current context of a kubeconfig file; throws with the reason when it names no cluster. */
export function kubeconfigAccess(file: string): ClusterAccess {
  const kc = obj(parse(readFileSync(file, 'utf8')));
  const context = named(kc.contexts, str(kc['current-context']), 'context');
  const cluster = named(kc.clusters, str(context.cluster), 'cluster');
  const user = named(kc.users, str(context.user), 'user');
  const server = str(cluster.server);
  if (!server) throw new Error(`${file} has no current cluster`);
  // Paths in a kubeconfig are relative to the file.
  const path = (p: unknown) => (str(p) ? (isAbsolute(str(p)!) ? str(p)! : join(dirname(file), str(p)!)) : undefined);
  const data = (inline: unknown, file: unknown) =>
    str(inline) ? Buffer.from(str(inline)!, 'base64') : path(file) ? readFileSync(path(file)!) : undefined;
  const token = str(user.token);
  const tokenFile = path(user.tokenFile);
  const username = str(user.username);
  if (user['auth-provider'])
    throw new Error(
      `${file}: auth-provider credentials are not supported (use a token, a client certificate or an exec plugin)`,
    );
  const exec = obj(user.exec);
  return {
    server: server.replace(/\/+$/, ''),
    ca: data(cluster['certificate-authority-data'], cluster['certificate-authority']),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    token: token ? () => token : tokenFile ? () => readFileSync(tokenFile, 'utf8').trim() : undefined,
    clientCert: data(user['client-certificate-data'], user['client-certificate']),
    clientKey: data(user['client-key-data'], user['client-key']),
    basic: username ? { username, password: str(user.password) ?? '' } : undefined,
    exec: str(exec.command)
      ? {
          apiVersion: str(exec.apiVersion) ?? 'client.authentication.k8s.io/v1',
          command: str(exec.command)!,
          args: (Array.isArray(exec.args) ? exec.args : []).map(String),
          env: Object.fromEntries(
            (Array.isArray(exec.env) ? exec.env : []).map(obj).map((e) => [String(e.name), String(e.value ?? '')]),
          ),
          dir: dirname(file),
        }
      : undefined,
  };
}
