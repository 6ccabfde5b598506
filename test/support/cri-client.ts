// A CRI client for the tests: the real gRPC library over a unix socket, with the subset of
// the CRI schema the tests use (field numbers as in k8s.io/cri-api), for v1 and v1alpha2.

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCHEMA = (pkg: string) => `
syntax = "proto3";
package ${pkg};
service RuntimeService {
  rpc Version(VersionRequest) returns (VersionResponse) {}
  // Not in CRI: proves that methods the shim has never heard of reach the runtime.
  rpc FutureMethod(VersionRequest) returns (VersionResponse) {}
}
service ImageService {
  rpc ListImages(ListImagesRequest) returns (ListImagesResponse) {}
  rpc ImageStatus(ImageStatusRequest) returns (ImageStatusResponse) {}
  rpc PullImage(PullImageRequest) returns (PullImageResponse) {}
  rpc RemoveImage(RemoveImageRequest) returns (RemoveImageResponse) {}
}
message VersionRequest { string version = 1; }
message VersionResponse {
  string version = 1; string runtime_name = 2; string runtime_version = 3; string runtime_api_version = 4;
}
message ImageSpec { string image = 1; map<string, string> annotations = 2; }
message AuthConfig {
  string username = 1; string password = 2; string auth = 3;
  string server_address = 4; string identity_token = 5; string registry_token = 6;
}
message ImageFilter { ImageSpec image = 1; }
message ListImagesRequest { ImageFilter filter = 1; }
message Image { string id = 1; repeated string repo_tags = 2; repeated string repo_digests = 3; uint64 size = 4; }
message ListImagesResponse { repeated Image images = 1; }
message ImageStatusRequest { ImageSpec image = 1; bool verbose = 2; }
message ImageStatusResponse { Image image = 1; map<string, string> info = 2; }
message PodSandboxMetadata { string name = 1; string uid = 2; string namespace = 3; uint32 attempt = 4; }
message PodSandboxConfig { PodSandboxMetadata metadata = 1; string hostname = 2; }
message PullImageRequest { ImageSpec image = 1; AuthConfig auth = 2; PodSandboxConfig sandbox_config = 3; }
message PullImageResponse { string image_ref = 1; }
message RemoveImageRequest { ImageSpec image = 1; }
message RemoveImageResponse {}
`;

export interface CriImage {
  id: string;
  repo_tags: string[];
  repo_digests: string[];
}

type Callback<T> = (err: grpc.ServiceError | null, res: T) => void;
type Method<Req, Res> = (req: Req, meta: grpc.Metadata, opts: grpc.CallOptions, cb: Callback<Res>) => void;

export class CriClient {
  private readonly runtime: grpc.Client & Record<string, Method<unknown, unknown>>;
  private readonly images: grpc.Client & Record<string, Method<unknown, unknown>>;

  /**
   * `authority`: the :authority to send instead of grpc-js's "localhost", e.g. the socket path
   * as kubelet and crictl up to 1.30 send it.
   */
  constructor(
    socketPath: string,
    version: 'v1' | 'v1alpha2' = 'v1',
    maxMessageBytes = 64 * 1024 * 1024,
    authority?: string,
  ) {
    const dir = mkdtempSync(join(tmpdir(), 'ics-proto-'));
    const file = join(dir, 'api.proto');
    writeFileSync(file, SCHEMA(`runtime.${version}`));
    let def: grpc.GrpcObject;
    try {
      def = grpc.loadPackageDefinition(protoLoader.loadSync(file, { keepCase: true, longs: String, defaults: true }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const pkg = (def.runtime as grpc.GrpcObject)[version] as grpc.GrpcObject;
    const options = {
      'grpc.max_receive_message_length': maxMessageBytes,
      'grpc.max_send_message_length': maxMessageBytes,
      ...(authority === undefined ? {} : { 'grpc.default_authority': authority }),
    };
    const creds = grpc.credentials.createInsecure();
    this.runtime = new (pkg.RuntimeService as grpc.ServiceClientConstructor)(
      `unix://${socketPath}`,
      creds,
      options,
    ) as never;
    this.images = new (pkg.ImageService as grpc.ServiceClientConstructor)(
      `unix://${socketPath}`,
      creds,
      options,
    ) as never;
  }

  private call<Res>(
    client: Record<string, Method<unknown, unknown>>,
    method: string,
    req: unknown,
    timeoutMs = 60_000,
    meta = new grpc.Metadata(),
  ): Promise<Res> {
    return new Promise((resolve, reject) => {
      client[method]!.call(client, req, meta, { deadline: Date.now() + timeoutMs }, (err, res) =>
        err ? reject(err) : resolve(res as Res),
      );
    });
  }

  version(
    timeoutMs?: number,
    meta?: grpc.Metadata,
  ): Promise<{ version: string; runtime_name: string; runtime_version: string; runtime_api_version: string }> {
    return this.call(this.runtime, 'Version', { version: 'v1' }, timeoutMs, meta);
  }

  futureMethod(): Promise<unknown> {
    return this.call(this.runtime, 'FutureMethod', {});
  }

  listImages(): Promise<{ images: CriImage[] }> {
    return this.call(this.images, 'ListImages', {});
  }

  imageStatus(image: string): Promise<{ image: CriImage | null }> {
    return this.call(this.images, 'ImageStatus', { image: { image } });
  }

  pullImage(
    image: string,
    auth?: { username: string; password: string },
    annotations: Record<string, string> = {},
    timeoutMs?: number,
    /** The pod the pull is for, as kubelet names it in sandbox_config.metadata. */
    pod?: { name: string; namespace: string; uid: string },
  ): Promise<{ image_ref: string }> {
    return this.call(
      this.images,
      'PullImage',
      {
        image: { image, annotations },
        ...(auth ? { auth } : {}),
        ...(pod ? { sandbox_config: { metadata: { ...pod, attempt: 0 }, hostname: pod.name } } : {}),
      },
      timeoutMs,
    );
  }

  removeImage(image: string): Promise<unknown> {
    return this.call(this.images, 'RemoveImage', { image: { image } });
  }

  close(): void {
    this.runtime.close();
    this.images.close();
  }
}
