// Prometheus metrics, /healthz and /readyz on the optional `metricsAddress`.
// Labels carry registry domains and CRI method names, never credentials or image names
// (unbounded), and method names only from the CRI services (anything else is "other").

import http from 'node:http';
import { Counter, Gauge, Histogram, Registry as PromRegistry } from 'prom-client';
import type { ConnectionOutcome } from './cri/server.js';
import type { EventOutcome } from './kube/pod-events.js';
import { log } from './log.js';
import type { ProbeObserver, ProbeOutcome } from './registry/client.js';
import { registryLabel, type Registry } from './registry/registry.js';
import type { CacheStats } from './rewrite/engine.js';
import type { NamingOutcome } from './runtime/original-names.js';

const CRI_METHOD = /^\/runtime\.v1(?:alpha2)?\.(?:RuntimeService|ImageService)\/([A-Za-z]{1,64})$/;

export class Metrics {
  readonly registry = new PromRegistry();
  private readonly criCalls = new Counter({
    name: 'image_cri_shim_cri_requests_total',
    help: 'CRI calls served, by method and gRPC status code',
    labelNames: ['method', 'code'],
    registers: [this.registry],
  });
  private readonly criLatency = new Histogram({
    name: 'image_cri_shim_cri_request_duration_seconds',
    help: 'CRI call latency through the shim, by method',
    labelNames: ['method'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5, 30, 120],
    registers: [this.registry],
  });
  private readonly decisions = new Counter({
    name: 'image_cri_shim_rewrite_decisions_total',
    help: 'Rewrite decisions made (cache misses), by result and winning registry',
    labelNames: ['result', 'registry'],
    registers: [this.registry],
  });
  private readonly probeLatency = new Histogram({
    name: 'image_cri_shim_registry_probe_duration_seconds',
    help: 'Manifest probe latency, by registry and result',
    labelNames: ['registry', 'result'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly registryErrors = new Counter({
    name: 'image_cri_shim_registry_errors_total',
    help: 'Probes that could not get an answer about the image, by registry and kind',
    labelNames: ['registry', 'kind'],
    registers: [this.registry],
  });
  private readonly reloads = new Counter({
    name: 'image_cri_shim_config_reloads_total',
    help: 'Configuration reloads, by result',
    labelNames: ['result'],
    registers: [this.registry],
  });
  private readonly http2Connections = new Counter({
    name: 'image_cri_shim_http2_connections_total',
    help:
      'Client connections accepted, by path: "direct" to the HTTP/2 server, or "filtered" (the client sends an ' +
      ':authority node:http2 refuses, such as a socket path)',
    labelNames: ['path'],
    registers: [this.registry],
  });
  private readonly http2Refused = new Counter({
    name: 'image_cri_shim_http2_refused_total',
    help: 'Client connections refused at the HTTP/2 layer',
    registers: [this.registry],
  });
  private readonly configMapWatch = new Gauge({
    name: 'image_cri_shim_configmap_watch_up',
    help: '1 while the ConfigMap watch is established',
    registers: [this.registry],
  });
  private readonly secretWatch = new Gauge({
    name: 'image_cri_shim_secret_watch_up',
    help: '1 while the watch of the credentials Secret is established',
    registers: [this.registry],
  });
  private readonly podEvents = new Counter({
    name: 'image_cri_shim_pod_events_total',
    help:
      'Pod events by outcome: created, updated (count raised), folded (into one still queued), dropped (queue full ' +
      'or the API server failed), skipped (a pod name, namespace or UID longer than Kubernetes allows)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });

  private readonly imageNames = new Counter({
    name: 'image_cri_shim_original_names_total',
    help:
      'Rewritten pulls whose image was also given the name the caller asked for (named), or could not be ' +
      '(failed: the pull stands under the registry name)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });

  constructor(
    cacheStats: () => CacheStats,
    private readonly watchesHealthy: () => { configMap: boolean | undefined; secret: boolean | undefined },
  ) {
    const stats = (name: string, help: string, pick: (s: CacheStats) => [string, number][]) =>
      new Counter({
        name,
        help,
        labelNames: ['cache'],
        registers: [this.registry],
        collect() {
          // Mirrors the engine's own counters (the `cache stats:` line) at scrape time.
          this.reset();
          for (const [cache, value] of pick(cacheStats())) this.inc({ cache }, value);
        },
      });
    stats('image_cri_shim_cache_hits_total', 'Decision cache hits', (s) => [
      ['image', s.imageHits],
      ['domain', s.domainHits],
    ]);
    stats('image_cri_shim_cache_misses_total', 'Decision cache misses', (s) => [
      ['image', s.imageMisses],
      ['domain', s.domainMisses],
    ]);
    stats('image_cri_shim_cache_evictions_total', 'Decision cache evictions', (s) => [
      ['image', s.imageEvictions],
      ['domain', s.domainEvictions],
    ]);
    for (const result of ['success', 'failure']) this.reloads.inc({ result }, 0);
    for (const path of ['direct', 'filtered']) this.http2Connections.inc({ path }, 0);
    for (const outcome of ['created', 'updated', 'folded', 'dropped', 'skipped']) this.podEvents.inc({ outcome }, 0);
    for (const outcome of ['named', 'failed']) this.imageNames.inc({ outcome }, 0);
  }

  originalName(outcome: NamingOutcome): void {
    this.imageNames.inc({ outcome });
  }

  podEvent(outcome: EventOutcome): void {
    this.podEvents.inc({ outcome });
  }

  http2Connection(outcome: ConnectionOutcome): void {
    if (outcome === 'refused') this.http2Refused.inc();
    else this.http2Connections.inc({ path: outcome });
  }

  criCall(path: string, status: number, ms: number): void {
    const method = CRI_METHOD.exec(path)?.[1] ?? 'other';
    this.criCalls.inc({ method, code: String(status) });
    this.criLatency.observe({ method }, ms / 1000);
  }

  decision(result: 'rewritten' | 'not_found', registry: Registry | undefined): void {
    this.decisions.inc({ result, registry: registry ? registryLabel(registry) : 'none' });
  }

  /** `probe`, as the registry client's observer. */
  probeObserver(): ProbeObserver {
    return (registry, outcome) => this.probe(registry, outcome);
  }

  probe(registry: Registry, outcome: ProbeOutcome): void {
    const label = registryLabel(registry);
    this.probeLatency.observe({ registry: label, result: outcome.status }, outcome.ms / 1000);
    if (outcome.status !== 'found' && outcome.status !== 'not_found')
      this.registryErrors.inc({ registry: label, kind: outcome.status });
  }

  reload(ok: boolean): void {
    this.reloads.inc({ result: ok ? 'success' : 'failure' });
  }

  async render(): Promise<string> {
    const { configMap, secret } = this.watchesHealthy();
    if (configMap !== undefined) this.configMapWatch.set(configMap ? 1 : 0);
    if (secret !== undefined) this.secretWatch.set(secret ? 1 : 0);
    return this.registry.metrics();
  }
}

/** Serves /metrics, /healthz (alive) and /readyz (`ready()` true). */
export async function serveMetrics(address: string, metrics: Metrics, ready: () => boolean): Promise<http.Server> {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = Number(address.slice(at + 1));
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      metrics.render().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (e: Error) => res.writeHead(500).end(e.message),
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ok = ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ready\n');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  log.info(`metrics on http://${address}/metrics`);
  return server;
}
