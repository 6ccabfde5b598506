// Keeps the running configuration current: the ConfigMap (watched) is merged into the local
// file, and the file is re-read every reloadInterval, on SIGHUP and when it changes on disk.
// A new config is applied only when its content changed and it is valid; an invalid one is
// logged and the last good configuration stays in force.

import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { CONFIGMAP_KEY, CONFIGMAP_NAME, CONFIGMAP_NAMESPACE, CONFIGMAP_SOURCE } from './config/configmap.js';
import { loadConfigFile, parseConfigText, readConfigText } from './config/load.js';
import type { Validated } from './config/validate.js';
import { syncConfigMapIntoFile } from './config/sync.js';
import type { ShimConfig } from './config/types.js';
import type { KubeClient } from './kube/api-client.js';
import { WatchedKey } from './kube/watched-key.js';
import { log } from './log.js';

/** Coalesces bursts of file events (editors write in several steps). */
const FILE_EVENT_DEBOUNCE_MS = 100;

export interface LiveConfigOptions {
  readonly path: string;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Called with each new valid configuration (not with the first one); resolves once it is in
   * force, so a reload is done only then.
   */
  readonly onApply: (config: ShimConfig) => Promise<void>;
  /** Called when a reload was refused or a ConfigMap sync failed. */
  readonly onReloadFailure?: () => void;
}

export class LiveConfig {
  private config!: ShimConfig;
  private text = '';
  private source: WatchedKey | undefined;
  private timer: NodeJS.Timeout | undefined;
  private fileWatcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: LiveConfigOptions) {}

  current(): ShimConfig {
    return this.config;
  }

  /** The ConfigMap follower, when a cluster was found. */
  configMapSource(): WatchedKey | undefined {
    return this.source;
  }

  /** Loads the file. Throws when it is invalid: the shim must not start on a bad config. */
  async start(): Promise<{ config: ShimConfig; warnings: string[] }> {
    const loaded = await loadConfigFile(this.options.path, this.env);
    this.config = loaded.config;
    this.text = loaded.text;
    return loaded;
  }

  /**
   * Follows the ConfigMap through `client` (no request yet: syncConfigMap reads it, follow
   * watches it). The client is the cluster's, owned and closed by whoever made it.
   */
  attachConfigMap(client: KubeClient): void {
    this.source = new WatchedKey(client, {
      resource: 'configmaps',
      namespace: CONFIGMAP_NAMESPACE,
      name: CONFIGMAP_NAME,
      key: CONFIGMAP_KEY,
      pollIntervalMs: () => this.config.reloadIntervalMs,
      // A change seen by the watch is merged and applied at once, not at the next interval.
      onChange: (data) =>
        this.serialise(async () => {
          const written = await this.applyConfigMap(data);
          if (!written) return this.reloadNow();
          await this.applyWritten(written);
        }),
    });
  }

  /** Merges the ConfigMap into the file once, applying the result when it changed the file. */
  syncConfigMap(): Promise<void> {
    const source = this.source;
    if (!source) return Promise.resolve();
    return this.serialise(async () => {
      try {
        const data = await source.current();
        source.seen(data);
        const written = await this.applyConfigMap(data);
        if (written) await this.applyWritten(written);
      } catch (e) {
        log.warn(`cannot read ${CONFIGMAP_SOURCE}: ${(e as Error).message}; serving from the local file, will retry`);
      }
    });
  }

  /** Begins the periodic reload, the file watch and the ConfigMap watch. */
  follow(): void {
    this.schedule();
    try {
      // Watch the directory: an atomic write replaces the file, which ends a watch on the file.
      this.fileWatcher = watch(dirname(this.options.path), (_event, name) => {
        if (name !== null && name !== basename(this.options.path)) return;
        clearTimeout(this.debounce);
        this.debounce = setTimeout(() => void this.reload(), FILE_EVENT_DEBOUNCE_MS);
      });
      this.fileWatcher.on('error', () => {});
    } catch (e) {
      log.debug(`cannot watch ${this.options.path} for changes: ${(e as Error).message}; relying on reloadInterval`);
    }
    void this.source?.run();
  }

  /** Re-reads the file now and applies it when it changed and is valid. Serialised. */
  reload(): Promise<void> {
    return this.serialise(() => this.reloadNow());
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.debounce);
    this.fileWatcher?.close();
    this.source?.stop();
  }

  private get env(): NodeJS.ProcessEnv {
    return this.options.env ?? process.env;
  }

  private serialise<T>(task: () => Promise<T>): Promise<T> {
    const next = this.queue.then(task);
    this.queue = next.catch(() => {});
    return next;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.reload().finally(() => this.schedule()), this.config.reloadIntervalMs);
    this.timer.unref();
  }

  private async reloadNow(): Promise<void> {
    let text: string;
    try {
      text = await readConfigText(this.options.path);
    } catch (e) {
      log.error(`${(e as Error).message}; keeping the running configuration`);
      this.options.onReloadFailure?.();
      return;
    }
    if (text === this.text) return;
    this.text = text;
    let next: Validated;
    try {
      next = parseConfigText(text, this.options.path, this.env);
    } catch (e) {
      log.error(`${(e as Error).message}; keeping the running configuration`);
      this.options.onReloadFailure?.();
      return;
    }
    await this.apply(next);
  }

  /** Puts a validated configuration in force. */
  private async apply(next: Validated): Promise<void> {
    for (const w of next.warnings) log.warn(w);
    const previous = this.config;
    this.config = next.config;
    if (next.config.shimSocket !== previous.shimSocket || next.config.criSocket !== previous.criSocket) {
      log.warn('changes to "shim" and "cri" apply at the next restart');
    }
    if (JSON.stringify(next.config.authSecret) !== JSON.stringify(previous.authSecret)) {
      log.warn('a change of "authSecret" applies at the next restart');
    }
    await this.options.onApply(next.config);
    log.info(`reloaded shim auth configuration from ${this.options.path}`);
    if (next.config.reloadIntervalMs !== previous.reloadIntervalMs) this.schedule();
  }

  /** Puts in force what the ConfigMap merge wrote to the file. */
  private applyWritten(written: Validated & { text: string }): Promise<void> {
    this.text = written.text;
    return this.apply(written);
  }

  /** Merges the ConfigMap into the file; a file it rewrote is returned validated, not read again. */
  private async applyConfigMap(data: string | undefined): Promise<(Validated & { text: string }) | undefined> {
    if (data === undefined) {
      log.debug(`${CONFIGMAP_SOURCE} not found; skip syncing`);
      return undefined;
    }
    const result = await syncConfigMapIntoFile(this.options.path, data, this.env);
    if (result.outcome === 'invalid') this.options.onReloadFailure?.();
    return result.written;
  }
}
