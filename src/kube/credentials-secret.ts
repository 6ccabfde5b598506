// Registry credentials kept in a Kubernetes Secret of type kubernetes.io/dockerconfigjson rather
// than in plain-text config: followed with a watch like the ConfigMap, held in memory only (never
// written into the config file), and the last good credentials kept when the Secret turns malformed.

import { log } from '../log.js';
import { parseDockerConfig, servedBySecret, type CredentialsByHost } from '../registry/docker-config.js';
import type { Registry } from '../registry/registry.js';
import type { KubeClient } from './api-client.js';
import { WatchedKey } from './watched-key.js';

/** The key `kubectl create secret docker-registry` writes. */
export const AUTH_SECRET_KEY = '.dockerconfigjson';

export interface SecretName {
  readonly namespace: string;
  readonly name: string;
}

export interface CredentialsSecretOptions {
  /** The registries as configured, to say which ones the Secret serves. */
  readonly registries: () => readonly Registry[];
  /** Called after the credentials changed. */
  readonly onChange: () => void;
  readonly pollIntervalMs: () => number;
  readonly listTimeoutMs?: number;
}

export class CredentialsSecret {
  private byHost: CredentialsByHost = new Map();
  private readonly watched: WatchedKey;
  private readonly label: string;

  constructor(
    client: KubeClient,
    readonly secret: SecretName,
    private readonly options: CredentialsSecretOptions,
  ) {
    this.label = `${secret.namespace}/${secret.name}`;
    this.watched = new WatchedKey(client, {
      resource: 'secrets',
      namespace: secret.namespace,
      name: secret.name,
      key: AUTH_SECRET_KEY,
      pollIntervalMs: options.pollIntervalMs,
      listTimeoutMs: options.listTimeoutMs,
      onChange: async (data) => {
        if (this.take(data)) options.onChange();
      },
    });
  }

  /** Credentials by registry host; empty when there is no Secret. */
  current(): CredentialsByHost {
    return this.byHost;
  }

  /** True while the watch is established. */
  healthy(): boolean {
    return this.watched.healthy();
  }

  /** Reads the Secret once (right after the socket listens); a failure is a warning and the watch retries. */
  async start(): Promise<void> {
    try {
      const data = await this.watched.current();
      this.watched.seen(data);
      this.take(data);
    } catch (e) {
      log.warn(
        `secret: cannot read ${this.label}: ${(e as Error).message}; credentials from the config only, will retry`,
      );
    }
  }

  follow(): void {
    void this.watched.run();
  }

  stop(): void {
    this.watched.stop();
  }

  /** Puts new Secret content in force; false when it changed nothing (malformed: kept as it was). */
  private take(data: string | undefined): boolean {
    if (data === undefined) {
      if (this.byHost.size === 0) {
        log.debug(`secret: ${this.label} not found (or no ${AUTH_SECRET_KEY} key); credentials from the config only`);
        return false;
      }
      this.byHost = new Map();
      log.info(`secret: ${this.label} is gone; credentials from the config only`);
      return true;
    }
    try {
      this.byHost = parseDockerConfig(data, `secret ${this.label}`);
    } catch (e) {
      log.warn(`${(e as Error).message}; keeping the last good credentials`);
      return false;
    }
    log.info(
      `secret: credentials for ${servedBySecret(this.options.registries(), this.byHost).length} registries updated`,
    );
    return true;
  }
}
