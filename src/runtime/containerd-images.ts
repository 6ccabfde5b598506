// containerd's own images API (`containerd.services.images.v1.Images`), served on the same
// socket as CRI. It is not CRI: the shim uses it for one thing, to give an image a second name
// (the name a pod asked for) beside the registry's name the pull left on it. A record created
// here in the CRI plugin's namespace, with the label the CRI plugin puts on the images it
// manages, shows in CRI ListImages and ImageStatus at once, under the same image ID.
//
// Field numbers (containerd api/services/images/v1/images.proto, api/types/descriptor.proto):
//   Image               { string name = 1; map<string,string> labels = 2; Descriptor target = 3; ... }
//   Descriptor          { string media_type = 1; string digest = 2; int64 size = 3; ... }
//   GetImageRequest     { string name = 1; }     GetImageResponse { Image image = 1; }
//   CreateImageRequest  { Image image = 1; }
//   UpdateImageRequest  { Image image = 1; google.protobuf.FieldMask update_mask = 2; }
//   FieldMask           { repeated string paths = 1; }
//   DeleteImageRequest  { string name = 1; bool sync = 2; }
//   map<string,string>  entries { string key = 1; string value = 2; }
// The namespace travels in the `containerd-namespace` header.

import protobuf from 'protobufjs/minimal.js';
import { ShimError } from '../errors.js';
import { frame, grpcMessage, Status, unframe } from '../cri/grpc.js';
import { callRuntime } from '../cri/relay.js';
import type { RuntimeConnection } from '../cri/upstream.js';
import { getBytes, getString } from '../cri/wire.js';

/** The CRI plugin's namespace: the images kubelet sees. */
export const CRI_NAMESPACE = 'k8s.io';
/** The label the CRI plugin puts on images it manages (it ignores records without it). */
export const CRI_MANAGED_LABEL = { key: 'io.cri-containerd.image', value: 'managed' } as const;

const SERVICE = '/containerd.services.images.v1.Images';
const WIRE_LEN = 2;
const FIELD = {
  requestName: 1,
  requestImage: 1,
  updateMask: 2,
  maskPaths: 1,
  imageName: 1,
  imageLabels: 2,
  imageTarget: 3,
  descriptorDigest: 2,
  entryKey: 1,
  entryValue: 2,
} as const;

/** A call to containerd's images API that failed, with its gRPC status. */
export class ImagesApiError extends ShimError {
  readonly code = 'ERR_RUNTIME_IMAGES_API';
  constructor(
    readonly method: string,
    readonly status: number,
    detail: string,
  ) {
    super(`containerd images API ${method}: ${detail} (gRPC status ${status})`);
    this.name = 'ImagesApiError';
  }
}

/** An image record: its name and target, the target kept as the bytes containerd sent. */
export interface ImageRecord {
  readonly name: string;
  /** The Descriptor message as containerd encoded it. */
  readonly target: Uint8Array;
  /** The target's digest (the manifest or index the name points at). */
  readonly digest: string;
}

const tag = (field: number) => (field << 3) | WIRE_LEN;

/** GetImageRequest, and DeleteImageRequest (field 1: the name; sync left false). */
export function encodeGetRequest(name: string): Uint8Array {
  return protobuf.Writer.create().uint32(tag(FIELD.requestName)).string(name).finish();
}

/** An Image named `name` with `target`, labelled as managed by the CRI plugin. */
export function encodeImage(name: string, target: Uint8Array): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32(tag(FIELD.imageName)).string(name);
  w.uint32(tag(FIELD.imageLabels)).fork();
  w.uint32(tag(FIELD.entryKey)).string(CRI_MANAGED_LABEL.key);
  w.uint32(tag(FIELD.entryValue)).string(CRI_MANAGED_LABEL.value);
  w.ldelim();
  w.uint32(tag(FIELD.imageTarget)).bytes(target);
  return w.finish();
}

export function encodeCreateRequest(name: string, target: Uint8Array): Uint8Array {
  return protobuf.Writer.create().uint32(tag(FIELD.requestImage)).bytes(encodeImage(name, target)).finish();
}

/** An update of the target and the CRI label only: other labels the record has stay. */
export function encodeUpdateRequest(name: string, target: Uint8Array): Uint8Array {
  const w = protobuf.Writer.create().uint32(tag(FIELD.requestImage)).bytes(encodeImage(name, target));
  w.uint32(tag(FIELD.updateMask)).fork();
  w.uint32(tag(FIELD.maskPaths)).string('target');
  w.uint32(tag(FIELD.maskPaths)).string(`labels.${CRI_MANAGED_LABEL.key}`);
  w.ldelim();
  return w.finish();
}

/** The image of a Get/Create/Update response; undefined when it holds none. */
export function decodeImageResponse(message: Uint8Array): ImageRecord | undefined {
  const image = getBytes(message, FIELD.requestImage);
  const target = image && getBytes(image, FIELD.imageTarget);
  if (!image || !target) return undefined;
  return {
    name: getString(image, FIELD.imageName) ?? '',
    target,
    digest: getString(target, FIELD.descriptorDigest) ?? '',
  };
}

/** True when the record carries the CRI plugin's label (the plugin ignores records without it). */
export function managedByCri(message: Uint8Array): boolean {
  const image = getBytes(message, FIELD.requestImage);
  if (!image) return false;
  // Map entries are repeated field 2; read each one.
  const reader = protobuf.Reader.create(image);
  while (reader.pos < reader.len) {
    const t = reader.uint32();
    if (t === tag(FIELD.imageLabels)) {
      const entry = reader.bytes();
      if (
        getString(entry, FIELD.entryKey) === CRI_MANAGED_LABEL.key &&
        getString(entry, FIELD.entryValue) === CRI_MANAGED_LABEL.value
      )
        return true;
    } else reader.skipType(t & 7);
  }
  return false;
}

export class ContainerdImages {
  constructor(
    private readonly conn: RuntimeConnection,
    private readonly timeoutMs: number,
  ) {}

  /** The record named `name`; undefined when there is none. */
  async get(name: string): Promise<ImageRecord | undefined> {
    const answer = await this.call('Get', encodeGetRequest(name), [Status.NOT_FOUND]);
    return answer && decodeImageResponse(answer);
  }

  /**
   * Makes `name` point at `target`, managed by the CRI plugin: created when new, moved when it
   * points elsewhere, left alone when it already points there. Safe to run concurrently for
   * one name (a lost create race becomes an update).
   */
  async point(name: string, target: ImageRecord): Promise<'created' | 'moved' | 'unchanged'> {
    for (let attempt = 0; attempt < 2; attempt++) {
      if (await this.call('Create', encodeCreateRequest(name, target.target), [Status.ALREADY_EXISTS]))
        return 'created';
      const existing = await this.call('Get', encodeGetRequest(name), [Status.NOT_FOUND]);
      if (!existing) continue; // deleted since: create it again
      if (decodeImageResponse(existing)?.digest === target.digest && managedByCri(existing)) return 'unchanged';
      if (await this.call('Update', encodeUpdateRequest(name, target.target), [Status.NOT_FOUND])) return 'moved';
    }
    throw new ImagesApiError('Create', Status.ALREADY_EXISTS, `${name} keeps changing under the shim`);
  }

  /** Removes the record named `name` (the image itself stays while another name points at it); none: nothing. */
  async remove(name: string): Promise<void> {
    await this.call('Delete', encodeGetRequest(name), [Status.NOT_FOUND]);
  }

  /** The answer's message; undefined for a status in `expected`; throws for any other failure. */
  private async call(method: string, message: Uint8Array, expected: number[]): Promise<Buffer | undefined> {
    const result = await callRuntime(this.conn, `${SERVICE}/${method}`, frame(message), this.timeoutMs, {
      'containerd-namespace': CRI_NAMESPACE,
    });
    if (result.status === Status.OK) return unframe(result.body)?.message ?? Buffer.alloc(0);
    if (expected.includes(result.status)) return undefined;
    throw new ImagesApiError(method, result.status, grpcMessage(result.trailers ?? result.headers));
  }
}
