// The one place that wires the pieces together:
// config → registry set → rewrite decisions → CRI handlers, plus the reload loop and signals.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadConfigFile, logConfigSummary, parseConfigText } from './config/load.js';
import type { ShimConfig } from './config/types.js';
import { detectRuntimeSocket } from './cri/runtime-socket.js';
import { CriServer } from './cri/server.js';
import { RuntimeConnection } from './cri/upstream.js';
import { log, setDebug } from './log.js';
import { RegistryClient } from './registry/client.js';
import { formatCacheStats, RewriteEngine } from './rewrite/engine.js';

/** How long in-flight calls may take to finish after SIGTERM. */
const DRAIN_MS = 10_000;

export interface Shim {
  readonly server: CriServer;
  readonly engine: RewriteEngine;
  current(): ShimConfig;
  /** Re-reads the config file and applies it when it changed and is valid. */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

export async function startShim(configPath: string): Promise<Shim> {
  const loaded = await loadConfigFile(configPath);
  let config = loaded.config;
  let lastText = loaded.text;
  loaded.warnings.forEach((w) => log.warn(w));
  setDebug(config.debug);
  logConfigSummary(config);

  const runtimeSocket = detectRuntimeSocket(config.criSocket);
  if (!existsSync(runtimeSocket) && !config.force) {
    throw new Error(`runtime socket ${runtimeSocket} does not exist (set "force: true" to start anyway)`);
  }
  const conn = new RuntimeConnection(runtimeSocket);
  if (!config.force) {
    await conn.waitReady(config.timeoutMs, () => log.info(`waiting for runtime at ${runtimeSocket}`));
  }
  const client = new RegistryClient();
  const engine = new RewriteEngine(client, config);
  const server = new CriServer({
    socketPath: config.shimSocket,
    runtimeSocketPath: runtimeSocket,
    conn,
    engine,
    settings: () => ({ timeoutMs: config.timeoutMs, fallback: config.fallback }),
  });
  await server.listen();
  log.info(`image-cri-shim listening on ${config.shimSocket}, runtime ${runtimeSocket}`);

  let statsTimer: NodeJS.Timeout | undefined;
  let reloadTimer: NodeJS.Timeout | undefined;
  const schedule = () => {
    clearInterval(statsTimer);
    if (!config.cache.disableStats && config.cache.statsLogIntervalMs > 0) {
      statsTimer = setInterval(() => log.info(formatCacheStats(engine.stats)), config.cache.statsLogIntervalMs);
      statsTimer.unref();
    }
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(() => void reload().finally(schedule), config.reloadIntervalMs);
    reloadTimer.unref();
  };

  const apply = (next: ShimConfig) => {
    if (next.shimSocket !== config.shimSocket || (next.criSocket ?? runtimeSocket) !== runtimeSocket) {
      log.warn('changes to "shim" and "cri" apply at the next restart');
    }
    config = next;
    setDebug(next.debug);
    engine.configure(next);
    logConfigSummary(next);
  };

  const reload = async () => {
    let text: string;
    try {
      text = await readFile(configPath, 'utf8');
    } catch (e) {
      log.error(`cannot read ${configPath}: ${(e as Error).message}; keeping the running configuration`);
      return;
    }
    if (text === lastText) return;
    try {
      const next = parseConfigText(text, configPath);
      next.warnings.forEach((w) => log.warn(w));
      lastText = text;
      apply(next.config);
      log.info(`reloaded shim auth configuration from ${configPath}`);
    } catch (e) {
      lastText = text;
      log.error(`${(e as Error).message}; keeping the running configuration`);
    }
  };
  schedule();

  return {
    server,
    engine,
    current: () => config,
    reload,
    async stop() {
      clearInterval(statsTimer);
      clearTimeout(reloadTimer);
      await server.close(DRAIN_MS);
      conn.close();
      await client.close();
    },
  };
}
