// Finds credentials for the cluster, in the Go image-cri-shim's order: in-cluster service
// account, then the first existing of $KUBECONFIG, /etc/kubernetes/admin.conf,
// /etc/rancher/k3s/k3s.yaml, $HOME/.kube/config ($HOME unset → /root). Finding them costs a
// few stat calls; the client is loaded only once some are found.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeClient } from './api-client.js';
import { SERVICE_ACCOUNT_DIR } from './kubeconfig.js';

export function kubeconfigCandidates(env: NodeJS.ProcessEnv): string[] {
  return [
    env.KUBECONFIG,
    '/etc/kubernetes/admin.conf',
    '/etc/rancher/k3s/k3s.yaml',
    join(env.HOME || '/root', '.kube', 'config'),
  ].filter((p): p is string => !!p);
}

/** Where the cluster credentials are: the service account (file undefined) or a kubeconfig. */
export interface ClusterCredentials {
  readonly source: string;
  readonly kubeconfig: string | undefined;
}

/** The credentials to use; throws with the reason when there are none. */
export function findCluster(
  env: NodeJS.ProcessEnv = process.env,
  exists: (p: string) => boolean = existsSync,
): ClusterCredentials {
  if (env.KUBERNETES_SERVICE_HOST && exists(join(SERVICE_ACCOUNT_DIR, 'token')))
    return { source: 'in-cluster service account', kubeconfig: undefined };
  const file = kubeconfigCandidates(env).find(exists);
  if (!file) throw new Error(`no kubeconfig found (tried in-cluster, ${kubeconfigCandidates(env).join(', ')})`);
  return { source: file, kubeconfig: file };
}

/** A client for those credentials; throws when the kubeconfig names no cluster. */
export async function connectCluster(
  found: ClusterCredentials,
  env: NodeJS.ProcessEnv = process.env,
): Promise<KubeClient> {
  const [{ KubeClient }, { inClusterAccess, kubeconfigAccess }] = await Promise.all([
    import('./api-client.js'),
    import('./kubeconfig.js'),
  ]);
  return new KubeClient(found.kubeconfig ? await kubeconfigAccess(found.kubeconfig) : await inClusterAccess(env));
}
