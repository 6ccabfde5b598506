// The test API server in a process of its own, for the start-up measure: a real API server is
// another machine, and in the measuring process its TLS and answers would share the event loop
// with the client timing the shim. Serves the ConfigMap given as JSON in argv[3]; prints the path
// of a kubeconfig that verifies the server's certificate, as a node's does; stops on SIGTERM.
//
//   node dist/bench/kube-api-process.js DIR '{"registries.yaml": "..."}'

import { FakeKubeApi } from '../test/support/kube-api.js';

const [dir, configMap] = process.argv.slice(2) as [string, string];
const api = await FakeKubeApi.start(dir);
api.put('image-cri-shim', JSON.parse(configMap) as Record<string, string>);
process.stdout.write(`${api.verifiedKubeconfig}\n`);
process.once('SIGTERM', () => void api.stop().then(() => process.exit(0)));
