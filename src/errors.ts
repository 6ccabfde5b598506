// Errors an operator may see, each with a stable code. Match on `code`, never on message text.

/** Invalid configuration: names the file (or source) and the key path. */
export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
  constructor(
    readonly source: string,
    readonly key: string,
    readonly detail: string,
  ) {
    super(key ? `${source}: ${key}: ${detail}` : `${source}: ${detail}`);
    this.name = 'ConfigError';
  }
}

export type RegistryErrorKind = 'not_found' | 'unauthorized' | 'unreachable' | 'timeout' | 'bad_response';

/** A registry probe that did not find the image, and why. Never carries credentials. */
export class RegistryError extends Error {
  readonly code = 'ERR_REGISTRY';
  constructor(
    readonly kind: RegistryErrorKind,
    readonly registry: string,
    detail: string,
  ) {
    super(`${registry}: ${kind}: ${detail}`);
    this.name = 'RegistryError';
  }
}
