// Finds credentials for the cluster, in the Go image-cri-shim's order: in-cluster service
// account, then the first existing of $KUBECONFIG, /etc/kubernetes/admin.conf,
// /etc/rancher/k3s/k3s.yaml, $HOME/.kube/config ($HOME unset → /root).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export function kubeconfigCandidates(env: NodeJS.ProcessEnv): string[] {
  return [env.KUBECONFIG, '/etc/kubernetes/admin.conf', '/etc/rancher/k3s/k3s.yaml', join(env.HOME || '/root', '.kube', 'config')].filter(
    (p): p is string => !!p,
  );
}

/** A KubeConfig and where it came from; throws with the reason when there is none. */
export function discoverCluster(env: NodeJS.ProcessEnv = process.env, exists: (p: string) => boolean = existsSync): { kc: KubeConfig; source: string } {
  const kc = new KubeConfig();
  if (env.KUBERNETES_SERVICE_HOST && exists(SERVICE_ACCOUNT_TOKEN)) {
    kc.loadFromCluster();
    return { kc, source: 'in-cluster service account' };
  }
  const file = kubeconfigCandidates(env).find(exists);
  if (!file) throw new Error(`no kubeconfig found (tried in-cluster, ${kubeconfigCandidates(env).join(', ')})`);
  kc.loadFromFile(file);
  if (!kc.getCurrentCluster()) throw new Error(`${file} has no current cluster`);
  return { kc, source: file };
}
