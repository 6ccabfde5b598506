// Errors an operator may see, one class each, with a stable `code`: match on `code`, never on
// message text. The CLI prints `ERROR [CODE] message` and exits with the status of its kind:
//
//   | code                   | class               | what                                                | exit |
//   |------------------------|---------------------|-----------------------------------------------------|------|
//   | ERR_CONFIG             | ConfigError         | an invalid configuration (source and key named)     | 2    |
//   | ERR_USAGE              | UsageError          | a command line the shim does not take               | 2    |
//   | ERR_FILE_REFUSED       | FileRefusedError    | a file not read (missing, not regular, too large)   | 2    |
//   | ERR_RUNTIME_SOCKET     | RuntimeSocketError  | the runtime's socket missing or not answering       | 3    |
//   | ERR_SHIM_SOCKET        | ShimSocketError     | the shim's own socket path in use or not usable     | 4    |
//   | ERR_REGISTRY_*         | RegistryError       | a registry probe's answer (see PROBE_OUTCOME)       | -    |
//   | ERR_KUBE_API           | KubeApiError        | the Kubernetes API server refused or failed a call  | -    |
//   | ERR_HTTP2_*            | ConnectionError     | a client connection refused at the HTTP/2 layer     | -    |
//   | ERR_RUNTIME_IMAGES_API | ImagesApiError      | containerd's images API refused a naming            | -    |
//
// Any other failure exits 1 (as does a `--dry-run` or `resolve` whose verdict is negative).

export const EXIT = { ok: 0, failed: 1, config: 2, runtime: 3, shimSocket: 4 } as const;

/** The base of the shim's own errors: a stable code, and the exit status when the CLI ends on one. */
export abstract class ShimError extends Error {
  abstract readonly code: string;
  readonly exitStatus: number = EXIT.failed;
}

/** Invalid configuration: names the file (or source) and the key path. */
export class ConfigError extends ShimError {
  readonly code = 'ERR_CONFIG';
  override readonly exitStatus = EXIT.config;
  constructor(
    readonly source: string,
    readonly key: string,
    readonly detail: string,
  ) {
    super(key ? `${source}: ${key}: ${detail}` : `${source}: ${detail}`);
    this.name = 'ConfigError';
  }
}

/** A command line the shim does not take. */
export class UsageError extends ShimError {
  readonly code = 'ERR_USAGE';
  override readonly exitStatus = EXIT.config;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A file that was not read, and why (never its content). */
export class FileRefusedError extends ShimError {
  readonly code = 'ERR_FILE_REFUSED';
  override readonly exitStatus = EXIT.config;
  constructor(
    readonly path: string,
    readonly reason: string,
    /** The system's error code when it could not be opened (ENOENT: there is none). */
    readonly errno?: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'FileRefusedError';
  }
}

/** The runtime's socket is missing, ambiguous, or does not answer in time. */
export class RuntimeSocketError extends ShimError {
  readonly code = 'ERR_RUNTIME_SOCKET';
  override readonly exitStatus = EXIT.runtime;
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeSocketError';
  }
}

/** The shim's own socket path cannot be used: another shim listens there, or it is not a socket. */
export class ShimSocketError extends ShimError {
  readonly code = 'ERR_SHIM_SOCKET';
  override readonly exitStatus = EXIT.shimSocket;
  constructor(message: string) {
    super(message);
    this.name = 'ShimSocketError';
  }
}

/** Why a registry probe did not find the image (see ProbeOutcome). */
export type RegistryErrorKind = 'not_found' | 'unauthorized' | 'unreachable' | 'timeout' | 'bad_response';

/**
 * Every probe outcome, spelled once: its error code (none for found) and the words reports
 * print for it (`resolve`, `--dry-run`, log lines).
 */
export const PROBE_OUTCOME: Record<'found' | RegistryErrorKind, { readonly code: string; readonly words: string }> = {
  found: { code: '', words: 'found' },
  not_found: { code: 'ERR_REGISTRY_NOT_FOUND', words: 'not found' },
  unauthorized: { code: 'ERR_REGISTRY_UNAUTHORIZED', words: 'unauthorized' },
  unreachable: { code: 'ERR_REGISTRY_UNREACHABLE', words: 'unreachable' },
  timeout: { code: 'ERR_REGISTRY_TIMEOUT', words: 'timeout' },
  bad_response: { code: 'ERR_REGISTRY_REFUSED', words: 'bad response' },
};

/** A registry probe that failed, of one of the kinds above. */
export class RegistryError extends ShimError {
  readonly code: string;
  constructor(
    readonly kind: RegistryErrorKind,
    message: string,
  ) {
    super(message);
    this.code = PROBE_OUTCOME[kind].code;
    this.name = 'RegistryError';
  }
}

/** A non-2xx answer of the Kubernetes API server, with its HTTP status. */
export class KubeApiError extends ShimError {
  readonly code = 'ERR_KUBE_API';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

/** The CLI's last word on an error: `[CODE] message`, and the exit status of its kind. */
export function describeFailure(e: unknown): { line: string; exitStatus: number } {
  if (e instanceof ShimError) return { line: `[${e.code}] ${e.message}`, exitStatus: e.exitStatus };
  const err = e as { code?: unknown; message?: unknown };
  const code = typeof err.code === 'string' ? err.code : 'ERR_UNEXPECTED';
  return { line: `[${code}] ${String(err.message ?? e)}`, exitStatus: EXIT.failed };
}
