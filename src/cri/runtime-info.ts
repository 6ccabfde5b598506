// Asks the runtime who it is (RuntimeService/Version), for --dry-run and /readyz.
//   VersionRequest  { string version = 1; }
//   VersionResponse { string version = 1; string runtime_name = 2; string runtime_version = 3; string
// runtime_api_version = 4; }

import protobuf from 'protobufjs/minimal.js';
import { frame, grpcMessage, Status, unframe } from './grpc.js';
import { callUnary } from './relay.js';
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
    const headers = {
      ':method': 'POST',
      ':path': `/runtime.${cri}.RuntimeService/Version`,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${timeoutMs}m`,
    };
    const result = await callUnary(conn, headers, request, AbortSignal.timeout(timeoutMs));
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
