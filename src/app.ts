// The one place that wires the pieces together: config → registry set → rewrite decisions → CRI
// handlers, with the live configuration feeding them. It reads as a list, started in this order
// and stopped in reverse:
//
//   1. the local file (LiveConfig): the configuration everything starts with;
//   2. the rewrite engine, built from it, and the one queue (Configurator) that puts every later
//      configuration in force on it, in order;
//   3. the runtime connection (waited for only when the runtime is not there at start);
//   4. the CRI server: the socket listens and every call is served from here on;
//   5. the cluster (ClusterParts: the ConfigMap, the credentials Secret, pod Events, their
//      client), read after the socket listens; image decisions wait for that first read, at
//      most as long as a read may take;
//   6. what follows: the reload loop and the watches, the plain-HTTP check, the stats line.
//
// What a test wants to replace (the runtime connection, the registry client, the cluster client)
// is a parameter, so the order above is unit-tested without containerd.

import { existsSync } from 'node:fs';
import { logConfigSummary } from './config/load.js';
import type { ShimConfig } from './config/types.js';
import { detectRuntimeSocket } from './cri/runtime-socket.js';
import { CriServer } from './cri/server.js';
import { RuntimeConnection } from './cri/upstream.js';
import { RuntimeSocketError } from './errors.js';
import type { KubeClient } from './kube/api-client.js';
import { connectCluster, findCluster } from './kube/cluster.js';
import type { CredentialsSecret } from './kube/credentials-secret.js';
import type { PodEvents } from './kube/pod-events.js';
import { LiveConfig } from './live-config.js';
import { log, setDebug } from './log.js';
import type { Metrics } from './metrics.js';
import { type ProbeObserver, RegistryClient } from './registry/client.js';
import { type CredentialsByHost, withSecretCredentials } from './registry/docker-config.js';
import { findPlainHttpOnly, runtimeTrusted } from './registry/runtime-trust.js';
import { formatCacheStats, type Prober, RewriteEngine, winnerOf } from './rewrite/engine.js';
import { provenance, type PullReport } from './rewrite/provenance.js';
import { OriginalNames } from './runtime/original-names.js';
import { RUNTIME, VERSION } from './version.js';

/** How long in-flight calls may take to finish after SIGTERM. */
const DRAIN_MS = 10_000;

/** What the shim is built from that a test may replace. */
/** The timers the shim's periodic work runs on (the `cache stats:` line); Node's own by default. */
export interface Clock {
  every(ms: number, task: () => void): { cancel(): void };
  /** Now, in milliseconds (the `generated_at=` of the stats line). */
  now(): number;
}

const NODE_CLOCK: Clock = {
  every(ms, task) {
    const timer = setInterval(task, ms).unref();
    return { cancel: () => clearInterval(timer) };
  },
  now: () => Date.now(),
};

export interface ShimDeps {
  readonly env?: NodeJS.ProcessEnv;
  readonly clock?: Clock;
  /** The connection to the runtime's socket. */
  readonly runtime?: (socketPath: string) => RuntimeConnection;
  /** The registry client the engine probes with (closed by stop()). */
  readonly registries?: (onProbe: ProbeObserver | undefined) => Prober & { close(): Promise<void> };
  /** The cluster's API client, or undefined when there is no cluster (closed by stop()). */
  readonly cluster?: (env: NodeJS.ProcessEnv) => Promise<KubeClient | undefined>;
}

export interface Shim {
  readonly server: CriServer;
  readonly engine: RewriteEngine;
  readonly live: LiveConfig;
  stop(): Promise<void>;
}

/**
 * The one queue that puts configurations in force on the engine, in the order they come: each
 * with the Secret's credentials where the config gives none, and the runtime's trust read anew
 * (its settings files, and the plain-HTTP check's findings). Its tasks only read small local
 * files: nothing on it waits on the network.
 */
class Configurator {
  private queue: Promise<void> = Promise.resolve();
  private secret: CredentialsByHost = new Map();
  private plainHttp: ReadonlySet<string> = new Set();

  constructor(readonly engine: RewriteEngine) {}

  /** Puts `config` in force after whatever is queued; resolves when it is. Never rejects. */
  apply(config: ShimConfig): Promise<void> {
    this.queue = this.queue
      .then(async () => this.engine.configure(await effective(config, this.secret, this.plainHttp)))
      .catch((e: Error) => log.error(`applying the configuration failed: ${e.message}`));
    return this.queue;
  }

  /** New credentials from the Secret, put in force with `config`. */
  applySecret(byHost: CredentialsByHost, config: ShimConfig): Promise<void> {
    this.secret = byHost;
    return this.apply(config);
  }

  /** Registries found to answer plain HTTP only, put in force with `config`. */
  applyPlainHttp(domains: ReadonlySet<string>, config: ShimConfig): Promise<void> {
    this.plainHttp = domains;
    return this.apply(config);
  }
}

/** The registries as the engine uses them: with the Secret's credentials and the runtime's trust. */
async function effective(
  config: ShimConfig,
  secret: CredentialsByHost,
  plainHttp: ReadonlySet<string>,
): Promise<ShimConfig> {
  return {
    ...config,
    registries: await runtimeTrusted(withSecretCredentials(config.registries, secret), config, plainHttp),
  };
}

/**
 * The cluster: its client, the ConfigMap merged into the file, the credentials Secret and pod
 * Events. Started after the socket listens; `ready` settles once the first reads are in force.
 */
class ClusterParts {
  private secret: CredentialsSecret | undefined;
  private events: PodEvents | undefined;
  private stopped = false;
  readonly ready: Promise<void>;

  constructor(
    private readonly client: KubeClient | undefined,
    private readonly live: LiveConfig,
    private readonly configurator: Configurator,
    private readonly metrics: Metrics | undefined,
  ) {
    this.ready = this.read();
  }

  /** The ConfigMap and the Secret, read side by side and put in force; Events from then on. Never rejects. */
  private async read(): Promise<void> {
    const client = this.client;
    if (!client) return;
    try {
      this.live.attachConfigMap(client);
      const name = this.live.current().authSecret;
      if (name) {
        const { CredentialsSecret } = await import('./kube/credentials-secret.js');
        this.secret = new CredentialsSecret(client, name, {
          registries: () => this.live.current().registries,
          pollIntervalMs: () => this.live.current().reloadIntervalMs,
          onChange: () => void this.configurator.applySecret(this.secret!.current(), this.live.current()),
        });
      }
      await Promise.all([this.live.syncConfigMap(), this.secret?.start()]);
      if (this.secret) await this.configurator.applySecret(this.secret.current(), this.live.current());
      if (this.stopped) return;
      const { PodEvents, nodeName } = await import('./kube/pod-events.js');
      this.events = new PodEvents(client, nodeName(), {
        enabled: () => this.live.current().events,
        onOutcome: (outcome) => this.metrics?.podEvent(outcome),
      });
    } catch (e) {
      log.error(`reading the cluster's configuration failed: ${(e as Error).message}; serving from the local file`);
    }
  }

  /** Follows the ConfigMap and the Secret once the first reads are done. */
  follow(): void {
    if (this.stopped) return;
    this.live.follow();
    this.secret?.follow();
  }

  secretHealthy(): boolean | undefined {
    return this.secret?.healthy();
  }

  /** Records on the pod where its image came from; in the background, after the pull's answer. */
  tellPod(report: PullReport): void {
    const events = this.events;
    const pod = report.pod;
    if (!events || !pod) return;
    provenance(report).then(
      (told) => told && events.record({ pod, ...told }),
      (e: Error) => log.debug(`events: ${e.message}`),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.secret?.stop();
    this.events?.stop();
    await this.client?.close();
  }
}

/** The cluster client from the credentials found on the node; undefined when there are none. */
async function nodeCluster(env: NodeJS.ProcessEnv): Promise<KubeClient | undefined> {
  let found: ReturnType<typeof findCluster> | undefined;
  try {
    found = findCluster(env);
    const client = await connectCluster(found, env);
    log.debug(`configmap: using cluster credentials from ${found.source}`);
    return client;
  } catch (e) {
    // No credentials at all is a node without a cluster; credentials that cannot be used are a mistake to show.
    if (found) log.warn(`kube: cannot use the cluster credentials in ${found.source}: ${(e as Error).message}`);
    log.debug(`skip syncing image-cri-shim config; unable to create kube client: ${(e as Error).message}`);
    return undefined;
  }
}

export async function startShim(configPath: string, deps: ShimDeps = {}): Promise<Shim> {
  const env = deps.env ?? process.env;
  // 1. The local file. (Later configurations are applied by the parts built below.)
  const later: { apply?: (config: ShimConfig) => Promise<void>; failed?: () => void } = {};
  const live = new LiveConfig({
    path: configPath,
    env,
    onApply: async (next) => later.apply?.(next),
    onReloadFailure: () => later.failed?.(),
  });
  const { config, warnings } = await live.start();
  for (const w of warnings) log.warn(w);
  setDebug(config.debug);
  logConfigSummary(config);

  // prom-client is loaded only when metrics are asked for.
  const exposition = config.metricsAddress ? await import('./metrics.js') : undefined;
  let cluster: ClusterParts | undefined;
  let engine: RewriteEngine | undefined;
  const metrics = exposition
    ? new exposition.Metrics(
        () => engine!.stats,
        () => ({ configMap: live.configMapSource()?.healthy(), secret: cluster?.secretHealthy() }),
      )
    : undefined;
  const registries =
    deps.registries?.(metrics?.probeObserver()) ?? new RegistryClient({ onProbe: metrics?.probeObserver() });

  // 2. The engine, from the file's configuration as the runtime sees its registries (its settings
  // files are read before serving; the plain-HTTP check asks the network, and runs after), and the
  // queue that configures it from then on.
  const first = await effective(config, new Map(), new Set());
  engine = new RewriteEngine(
    registries,
    first,
    metrics && ((d) => metrics.decision(d.winner >= 0 ? 'rewritten' : 'not_found', winnerOf(d)?.registry)),
  );
  const configurator = new Configurator(engine);
  const statsLine = new StatsLine(engine, deps.clock ?? NODE_CLOCK);
  later.apply = (next) => {
    setDebug(next.debug);
    logConfigSummary(next);
    statsLine.schedule(next);
    metrics?.reload(true);
    return configurator.apply(next);
  };
  later.failed = () => metrics?.reload(false);

  // 3. The runtime; when it is not there yet, the cluster is read first: its ConfigMap may set force and timeout.
  const runtimeSocket = detectRuntimeSocket(config.criSocket);
  const conn = deps.runtime?.(runtimeSocket) ?? new RuntimeConnection(runtimeSocket);
  const clusterParts = async () =>
    new ClusterParts(await (deps.cluster ?? nodeCluster)(env), live, configurator, metrics);
  if (!(existsSync(runtimeSocket) && (await conn.tryConnect()))) {
    cluster = await clusterParts();
    await cluster.ready;
    const { force, timeoutMs } = live.current();
    if (!existsSync(runtimeSocket) && !force)
      throw new RuntimeSocketError(
        `runtime socket ${runtimeSocket} does not exist (set "force: true" to start anyway)`,
      );
    if (!force) await conn.waitReady(timeoutMs, () => log.info(`waiting for runtime at ${runtimeSocket}`));
  }

  // 4. The socket.
  const names = new OriginalNames(conn, { onOutcome: metrics && ((outcome) => metrics.originalName(outcome)) });
  const server = new CriServer({
    socketPath: config.shimSocket,
    runtimeSocketPath: runtimeSocket,
    conn,
    engine,
    settings: () => live.current(),
    onCall: metrics && ((path, status, ms) => metrics.criCall(path, status, ms)),
    onConnection: metrics && ((outcome) => metrics.http2Connection(outcome)),
    onPulled: (report) => cluster?.tellPod(report),
    names,
  });
  await server.listen();

  // 5. The cluster, read after the socket listens; image decisions wait for that read, and only for it.
  cluster ??= await clusterParts();
  engine.holdUntil(cluster.ready);
  const metricsServer =
    metrics && exposition && config.metricsAddress
      ? await exposition.serveMetrics(config.metricsAddress, metrics, () => conn.connected())
      : undefined;
  log.info(
    `image-cri-shim listening on ${config.shimSocket}, runtime ${runtimeSocket} (version ${VERSION}, ${RUNTIME})`,
  );

  // 6. What follows.
  if (config.originalNames) void names.supported();
  // On the registries as the engine got them at start (the runtime's settings already read).
  void findPlainHttpOnly(first.registries, config).then(({ domains, warnings: found }) => {
    for (const w of found) log.warn(w);
    if (domains.size > 0) return configurator.applyPlainHttp(domains, live.current());
  });
  statsLine.schedule(config);
  const running = cluster;
  void running.ready.then(() => running.follow());

  return {
    server,
    engine,
    live,
    async stop() {
      live.stop();
      statsLine.stop();
      metricsServer?.close();
      await server.close(DRAIN_MS);
      await running.stop();
      conn.close();
      await registries.close();
    },
  };
}

/** The Go shim's `cache stats:` line, every statsLogInterval unless disableStats. */
class StatsLine {
  private timer: { cancel(): void } | undefined;

  constructor(
    private readonly engine: RewriteEngine,
    private readonly clock: Clock,
  ) {}

  schedule(config: ShimConfig): void {
    this.stop();
    if (config.cache.disableStats) return;
    this.timer = this.clock.every(config.cache.statsLogIntervalMs, () =>
      log.info(formatCacheStats(this.engine.stats, new Date(this.clock.now()))),
    );
  }

  stop(): void {
    this.timer?.cancel();
  }
}
