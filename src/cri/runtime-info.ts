// Asks the runtime who it is (RuntimeService/Version): for --dry-run, and to tell whether it can name images.
//   VersionRequest  { string version = 1; }
//   VersionResponse { string version = 1; string runtime_name = 2; string runtime_version = 3; string
// runtime_api_version = 4; }

import protobuf from 'protobufjs/minimal.js';
import { frame, grpcMessage, Status, unframe } from './grpc.js';
import { callRuntime } from './relay.js';
import type { RuntimeConnection } from './upstream.js';
import { getString } from './wire.js';

export interface RuntimeInfo {
  readonly name: string;
  readonly version: string;
  /** The CRI version that answered: "v1" or "v1alpha2". */
  readonly criVersion: string;
}

export async function runtimeVersion(conn: RuntimeConnection, timeoutMs: number): Promise<RuntimeInfo> {
  const request = frame(protobuf.Writer.create().uint32(10).string('v1').finish());
  let lastError = '';
  for (const cri of ['v1', 'v1alpha2']) {
    const result = await callRuntime(conn, `/runtime.${cri}.RuntimeService/Version`, request, timeoutMs);
    if (result.status === Status.OK) {
      const message = unframe(result.body)?.message ?? Buffer.alloc(0);
      return {
        name: getString(message, 2) ?? '',
        version: getString(message, 3) ?? '',
        criVersion: getString(message, 4) ?? cri,
      };
    }
    lastError = `${cri}: ${grpcMessage(result.trailers ?? result.headers)}`;
    if (result.status !== Status.UNIMPLEMENTED) break;
  }
  throw new Error(lastError);
}
