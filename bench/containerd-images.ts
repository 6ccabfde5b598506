// containerd's own image service (not CRI), to give the runtime thousands of image names
// cheaply: every name points at one image already pulled.

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCHEMA = `syntax = "proto3";
package containerd.services.images.v1;
service Images {
  rpc Get(GetImageRequest) returns (GetImageResponse);
  rpc Create(CreateImageRequest) returns (CreateImageResponse);
}
message Descriptor { string media_type = 1; string digest = 2; int64 size = 3; }
message Image { string name = 1; map<string, string> labels = 2; Descriptor target = 3; }
message GetImageRequest { string name = 1; }
message GetImageResponse { Image image = 1; }
message CreateImageRequest { Image image = 1; }
message CreateImageResponse { Image image = 1; }
`;

interface Image {
  name: string;
  labels: Record<string, string>;
  target: { media_type: string; digest: string; size: string };
}

/** Creates `names` in containerd's k8s.io namespace, all pointing at the image `source`. */
export async function tagMany(socket: string, source: string, names: string[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ics-ctd-proto-'));
  writeFileSync(join(dir, 'images.proto'), SCHEMA);
  const def = grpc.loadPackageDefinition(
    protoLoader.loadSync(join(dir, 'images.proto'), { keepCase: true, longs: String, defaults: true }),
  );
  const Images = (((def.containerd as grpc.GrpcObject).services as grpc.GrpcObject).images as grpc.GrpcObject)
    .v1 as grpc.GrpcObject;
  const client = new (Images.Images as grpc.ServiceClientConstructor)(
    `unix://${socket}`,
    grpc.credentials.createInsecure(),
  ) as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  const meta = new grpc.Metadata();
  meta.set('containerd-namespace', 'k8s.io');
  const call = <T>(method: string, req: unknown) =>
    new Promise<T>((resolve, reject) =>
      client[method]!.call(client, req, meta, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))),
    );
  try {
    const { image } = await call<{ image: Image }>('Get', { name: source });
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(
        names
          .slice(i, i + 50)
          .map((name) => call('Create', { image: { name, labels: image.labels, target: image.target } })),
      );
    }
  } finally {
    client.close();
  }
}
