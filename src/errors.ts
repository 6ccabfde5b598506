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

/** Why a registry probe did not find the image (see ProbeOutcome). */
export type RegistryErrorKind = 'not_found' | 'unauthorized' | 'unreachable' | 'timeout' | 'bad_response';
