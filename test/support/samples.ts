// Config texts shared by tests.

/** The ConfigMap `registries.yaml` of the original configmap guide, as written there. */
export const GUIDE_CONFIGMAP = `version: v1
offlinePriority: 1000

sealos:
  address: http://sealos.hub:5000
  auth:
    username: admin
    password: passw0rd

registries:
  - address: docker.io
    auth:
      username: dockeruser
      password: dockerpass
    priority: 600
  - address: registry.example.com
    auth:
      username: reguser
      password: regpass
    priority: 800
  - address: fast-registry.io
    auth:
      username: fastuser
      password: fastpass
    priority: 1200

reloadInterval: 15s
debug: false
timeout: 15m

cache:
  imageCacheSize: 1024
  imageCacheTTL: 30m
  domainCacheTTL: 10m
  statsLogInterval: 1m
  disableStats: false
`;
