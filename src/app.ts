// The one place that wires the pieces together:
// config → registry set → rewrite decisions → CRI handlers, with the live config feeding them.

import { existsSync } from 'node:fs';
import { logConfigSummary } from './config/load.js';
import { detectRuntimeSocket } from './cri/runtime-socket.js';
import { CriServer } from './cri/server.js';
import { RuntimeConnection } from './cri/upstream.js';
import type { ShimConfig } from './config/types.js';
import { LiveConfig } from './live-config.js';
import { applyRuntimeTrust, plainHttpOnly, withRuntimeTrust } from './registry/runtime-trust.js';
import { log, setDebug } from './log.js';
import { RegistryClient } from './registry/client.js';
import { formatCacheStats, RewriteEngine, winnerOf } from './rewrite/engine.js';
import type { Metrics } from './metrics.js';
import type { CredentialsSecret } from './kube/credentials-secret.js';
import type { PodEvents } from './kube/pod-events.js';
import { withSecretCredentials } from './registry/docker-config.js';
import { provenance, type PullReport } from './rewrite/provenance.js';
import { OriginalNames } from './runtime/original-names.js';
import { RUNTIME, VERSION } from './version.js';

/** The config with each registry as the runtime sees it (scheme, TLS trust); warnings logged. */
export async function withTrust(config: ShimConfig): Promise<ShimConfig> {
  const { registries, warnings } = await applyRuntimeTrust(config.registries, config);
  for (const w of warnings) log.warn(w);
  return { ...config, registries };
}

/** How long in-flight calls may take to finish after SIGTERM. */
const DRAIN_MS = 10_000;

export interface Shim {
  readonly server: CriServer;
  readonly engine: RewriteEngine;
  readonly live: LiveConfig;
  stop(): Promise<void>;
}

export async function startShim(configPath: string): Promise<Shim> {
  let engine: RewriteEngine | undefined;
  let secret: CredentialsSecret | undefined;
  /** The config's registries with the Secret's credentials where the config gives none. */
  const withCredentials = (next: ShimConfig): ShimConfig =>
    secret ? { ...next, registries: withSecretCredentials(next.registries, secret.current()) } : next;
  /** The registries as the rewrite engine uses them: with credentials and the runtime's trust. */
  const effective = (next: ShimConfig): Promise<ShimConfig> => withTrust(withCredentials(next));
  let statsTimer: NodeJS.Timeout | undefined;
  const scheduleStats = () => {
    clearInterval(statsTimer);
    const cache = live.current().cache;
    if (!engine || cache.disableStats || cache.statsLogIntervalMs <= 0) return;
    statsTimer = setInterval(() => log.info(formatCacheStats(engine!.stats)), cache.statsLogIntervalMs);
    statsTimer.unref();
  };
  let metrics: Metrics | undefined;
  // Reloads are applied in order, each with the runtime's trust settings read anew.
  let applying: Promise<void> = Promise.resolve();
  const inOrder = (task: () => Promise<void>) => {
    applying = applying.then(task).catch((e: Error) => log.error(`applying the configuration failed: ${e.message}`));
  };
  const live = new LiveConfig({
    path: configPath,
    onApply: (next) => {
      setDebug(next.debug);
      logConfigSummary(next);
      inOrder(async () => engine?.configure(await effective(next)));
      scheduleStats();
      metrics?.reload(true);
    },
    onReloadFailure: () => metrics?.reload(false),
  });

  let podEvents: PodEvents | undefined;
  let stopped = false;
  /**
   * The ConfigMap merged into the file and the Secret's credentials, read once (side by side),
   * then put in force; pod Events are sent from then on. Never fails: what the API server does
   * not answer is asked again by the watches, and the local file serves meanwhile.
   */
  const readCluster = async (): Promise<void> => {
    try {
      const cluster = await live.connectCluster();
      if (!cluster || stopped) return;
      const name = live.current().authSecret;
      if (name) {
        const { CredentialsSecret } = await import('./kube/credentials-secret.js');
        secret = new CredentialsSecret(cluster, name, {
          registries: () => live.current().registries,
          pollIntervalMs: () => live.current().reloadIntervalMs,
          onChange: () => inOrder(async () => engine?.configure(await effective(live.current()))),
        });
      }
      await Promise.all([live.syncConfigMap(), secret?.start()]);
      if (secret) inOrder(async () => engine?.configure(await effective(live.current())));
      await applying;
      if (stopped) return;
      const { PodEvents, nodeName } = await import('./kube/pod-events.js');
      podEvents = new PodEvents(cluster, nodeName(), {
        enabled: () => live.current().events,
        onOutcome: (outcome) => metrics?.podEvent(outcome),
      });
    } catch (e) {
      log.error(`reading the cluster's configuration failed: ${(e as Error).message}; serving from the local file`);
    }
  };

  const { config, warnings } = await live.start();
  for (const w of warnings) log.warn(w);
  setDebug(config.debug);
  logConfigSummary(config);

  const runtimeSocket = detectRuntimeSocket(config.criSocket);
  const conn = new RuntimeConnection(runtimeSocket);
  let fromCluster: Promise<void> | undefined;
  if (!(existsSync(runtimeSocket) && (await conn.tryConnect()))) {
    // The runtime is not there yet: wait for it with `force` and `timeout` as the ConfigMap may set them.
    fromCluster = readCluster();
    await fromCluster;
    const { force, timeoutMs } = live.current();
    if (!existsSync(runtimeSocket) && !force) {
      throw new Error(`runtime socket ${runtimeSocket} does not exist (set "force: true" to start anyway)`);
    }
    if (!force) await conn.waitReady(timeoutMs, () => log.info(`waiting for runtime at ${runtimeSocket}`));
  }
  // prom-client is loaded only when metrics are asked for.
  const exposition = config.metricsAddress ? await import('./metrics.js') : undefined;
  if (exposition) {
    metrics = new exposition.Metrics(
      () => engine!.stats,
      () => ({ configMap: live.configMapSource()?.healthy(), secret: secret?.healthy() }),
    );
  }
  const client = new RegistryClient({ onProbe: metrics && ((registry, outcome) => metrics!.probe(registry, outcome)) });
  // The runtime's settings files are read before serving; the plain-HTTP check asks the
  // network, so it runs after the socket listens and reconfigures only if it changes something.
  const served = live.current();
  const trusted: ShimConfig = {
    ...served,
    registries: await Promise.all(withCredentials(served).registries.map((r) => withRuntimeTrust(r, served))),
  };
  engine = new RewriteEngine(
    client,
    trusted,
    metrics && ((d) => metrics!.decision(d.winner >= 0 ? 'rewritten' : 'not_found', winnerOf(d)?.registry)),
  );
  const names = new OriginalNames(conn, { onOutcome: metrics && ((outcome) => metrics!.originalName(outcome)) });
  const server = new CriServer({
    socketPath: config.shimSocket,
    runtimeSocketPath: runtimeSocket,
    conn,
    engine,
    settings: () => live.current(),
    onCall: metrics && ((path, status, ms) => metrics!.criCall(path, status, ms)),
    onConnection: metrics && ((outcome) => metrics!.http2Connection(outcome)),
    onPulled: (report) => podEvents && tellPod(podEvents, report),
    names,
  });
  await server.listen();
  // Image decisions wait for the cluster's configuration (bounded by the API read timeout), so
  // none is made on a file the ConfigMap is about to change; every other call is served now.
  fromCluster ??= readCluster();
  engine.holdUntil(fromCluster);
  const metricsServer =
    metrics && exposition && config.metricsAddress
      ? await exposition.serveMetrics(config.metricsAddress, metrics, () => conn.connected())
      : undefined;
  log.info(
    `image-cri-shim listening on ${config.shimSocket}, runtime ${runtimeSocket} (version ${VERSION}, ${RUNTIME})`,
  );
  // Said once at start: whether pulled images will also keep the names pods ask for.
  if (config.originalNames) void names.supported();
  inOrder(async () => {
    const checked = await plainHttpOnly(trusted.registries, served);
    for (const w of checked.warnings) log.warn(w);
    if (checked.registries.some((r, i) => r !== trusted.registries[i]) && live.current() === served)
      engine!.configure({ ...trusted, registries: checked.registries });
  });
  scheduleStats();
  void fromCluster.then(() => {
    if (stopped) return;
    live.follow();
    secret?.follow();
  });

  return {
    server,
    engine,
    live,
    async stop() {
      stopped = true;
      live.stop();
      secret?.stop();
      podEvents?.stop();
      clearInterval(statsTimer);
      metricsServer?.close();
      await server.close(DRAIN_MS);
      conn.close();
      await client.close();
    },
  };
}

/** Records on the pod where its image came from; in the background, after the pull's answer. */
function tellPod(events: PodEvents, report: PullReport): void {
  const pod = report.pod;
  if (!pod) return;
  provenance(report).then(
    (told) => told && events.record({ pod, ...told }),
    (e: Error) => log.debug(`events: ${e.message}`),
  );
}
