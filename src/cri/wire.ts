// Protobuf wire-format surgery on CRI messages. The shim edits only the fields it owns
// (ImageSpec.image, PullImageRequest.auth) and copies every other byte as it came, so fields
// added to CRI after this code was written survive untouched.
//
// Field numbers, identical in runtime.v1 and runtime.v1alpha2:
//   PullImageRequest    { ImageSpec image = 1; AuthConfig auth = 2; PodSandboxConfig sandbox_config = 3; }
//   ImageStatusRequest  { ImageSpec image = 1; bool verbose = 2; }
//   RemoveImageRequest  { ImageSpec image = 1; }
//   ImageSpec           { string image = 1; map<string,string> annotations = 2; ... }
//   AuthConfig          { string username = 1; string password = 2; string auth = 3; string server_address = 4; ... }
//   ImageStatusResponse { Image image = 1; map<string,string> info = 2; }
//   Image               { string id = 1; repeated string repo_tags = 2; repeated string repo_digests = 3; ... }
//   PullImageResponse   { string image_ref = 1; }
//   PodSandboxConfig    { PodSandboxMetadata metadata = 1; ... }
//   PodSandboxMetadata  { string name = 1; string uid = 2; string namespace = 3; uint32 attempt = 4; }

import protobuf from 'protobufjs/minimal.js';

const WIRE_LEN = 2;

export const FIELD = {
  requestImage: 1,
  pullAuth: 2,
  specImage: 1,
  authUsername: 1,
  authPassword: 2,
  authServerAddress: 4,
  statusImage: 1,
  imageId: 1,
  pullImageRef: 1,
  pullSandboxConfig: 3,
  sandboxMetadata: 1,
  metadataName: 1,
  metadataUid: 2,
  metadataNamespace: 3,
} as const;

interface Field {
  readonly number: number;
  readonly wireType: number;
  /** Byte range of the whole field (tag included). */
  readonly start: number;
  readonly end: number;
  /** Byte range of the payload of a length-delimited field. */
  readonly valueStart: number;
  readonly valueEnd: number;
}

/** Top-level fields of a message; throws on malformed input. */
export function fields(buf: Uint8Array): Field[] {
  const reader = protobuf.Reader.create(buf);
  const out: Field[] = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const tag = reader.uint32();
    const number = tag >>> 3;
    const wireType = tag & 7;
    if (number === 0) throw new Error('invalid field number 0');
    let valueStart = reader.pos;
    if (wireType === WIRE_LEN) {
      const length = reader.uint32();
      valueStart = reader.pos;
      reader.skip(length);
    } else {
      reader.skipType(wireType);
    }
    out.push({ number, wireType, start, end: reader.pos, valueStart, valueEnd: reader.pos });
  }
  return out;
}

function lengthDelimited(buf: Uint8Array, number: number): Field[] {
  return fields(buf).filter((f) => f.number === number && f.wireType === WIRE_LEN);
}

/** The last value of a string / bytes / message field (protobuf: last one wins), or undefined. */
export function getBytes(buf: Uint8Array, number: number): Uint8Array | undefined {
  const found = lengthDelimited(buf, number).at(-1);
  return found ? buf.subarray(found.valueStart, found.valueEnd) : undefined;
}

export function getString(buf: Uint8Array, number: number): string | undefined {
  const bytes = getBytes(buf, number);
  return bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8') : undefined;
}

/** The fields of a message whose number `keep` accepts, bytes unchanged. */
function fieldsWhere(buf: Uint8Array, keep: (number: number) => boolean): Buffer {
  return Buffer.concat(
    fields(buf)
      .filter((f) => keep(f.number))
      .map((f) => buf.subarray(f.start, f.end)),
  );
}

/** Just the occurrences of field `number` (a message of that one field). */
export function onlyField(buf: Uint8Array, number: number): Buffer {
  return fieldsWhere(buf, (n) => n === number);
}

function encodeField(number: number, value: Uint8Array): Uint8Array {
  return protobuf.Writer.create()
    .uint32((number << 3) | WIRE_LEN)
    .bytes(value)
    .finish();
}

/**
 * Replaces each occurrence of length-delimited field `number` with `edit(payload)`, keeping
 * every other byte and the field order. When the field is absent and `appendIfAbsent` is set,
 * edit(empty) is appended.
 */
export function editField(
  buf: Uint8Array,
  number: number,
  edit: (payload: Uint8Array) => Uint8Array,
  appendIfAbsent = false,
): Buffer {
  const targets = lengthDelimited(buf, number);
  if (targets.length === 0) {
    return appendIfAbsent ? Buffer.concat([buf, encodeField(number, edit(new Uint8Array(0)))]) : Buffer.from(buf);
  }
  const parts: Uint8Array[] = [];
  let pos = 0;
  for (const t of targets) {
    parts.push(buf.subarray(pos, t.start), encodeField(number, edit(buf.subarray(t.valueStart, t.valueEnd))));
    pos = t.end;
  }
  parts.push(buf.subarray(pos));
  return Buffer.concat(parts);
}

/** Sets a string field, replacing any existing occurrence. */
export function setString(buf: Uint8Array, number: number, value: string): Buffer {
  return editField(buf, number, () => Buffer.from(value, 'utf8'), true);
}

/** The image name inside a request's ImageSpec (field 1 → field 1). */
export function requestImage(message: Uint8Array): string | undefined {
  const spec = getBytes(message, FIELD.requestImage);
  return spec ? getString(spec, FIELD.specImage) : undefined;
}

/** The request with its ImageSpec.image replaced; every other byte kept. */
export function withRequestImage(message: Uint8Array, image: string): Buffer {
  return editField(message, FIELD.requestImage, (spec) => setString(spec, FIELD.specImage, image));
}

/** True when PullImageRequest.auth is absent or carries nothing. */
export function hasAuth(message: Uint8Array): boolean {
  const auth = getBytes(message, FIELD.pullAuth);
  return auth !== undefined && fields(auth).some((f) => f.valueEnd > f.valueStart || f.wireType !== WIRE_LEN);
}

/** The server_address of PullImageRequest.auth: the registry its credentials are for, when the caller said. */
export function authServerAddress(message: Uint8Array): string | undefined {
  const auth = getBytes(message, FIELD.pullAuth);
  return auth ? getString(auth, FIELD.authServerAddress) || undefined : undefined;
}

/** The message without any occurrence of field `number`. */
export function withoutField(buf: Uint8Array, number: number): Buffer {
  return fieldsWhere(buf, (n) => n !== number);
}

/** The request with AuthConfig {username, password} set. */
export function withAuth(message: Uint8Array, username: string, password: string): Buffer {
  const auth = protobuf.Writer.create()
    .uint32((FIELD.authUsername << 3) | WIRE_LEN)
    .string(username)
    .uint32((FIELD.authPassword << 3) | WIRE_LEN)
    .string(password)
    .finish();
  return editField(message, FIELD.pullAuth, () => auth, true);
}

/**
 * The length ImageSpec.image declares, read from the first bytes of a framed request whose
 * first field is the ImageSpec with the image first in it (how every encoder writes them);
 * undefined until enough bytes are there, or when the fields come otherwise.
 */
export function declaredImageLength(framed: Uint8Array): number | undefined {
  let pos = 5;
  const varint = (): number | undefined => {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (pos >= framed.length) return undefined;
      const byte = framed[pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
    return undefined;
  };
  const specTag = (FIELD.requestImage << 3) | WIRE_LEN;
  if (varint() !== specTag || varint() === undefined) return undefined;
  if (varint() !== ((FIELD.specImage << 3) | WIRE_LEN)) return undefined;
  return varint();
}

/** ImageStatusResponse's Image.id (field 1 of field 1); "" when it holds no image. */
export function statusImageId(response: Uint8Array): string {
  const image = getBytes(response, FIELD.statusImage);
  return (image && getString(image, FIELD.imageId)) ?? '';
}

/** ImageStatusResponse: does the runtime know the image? */
export function statusHasImage(response: Uint8Array): boolean {
  return getBytes(response, FIELD.statusImage) !== undefined;
}

/**
 * The first 6 bytes of a framed ImageStatusResponse say it holds an Image: an uncompressed,
 * non-empty message whose first field is `image` (the runtime writes fields in number order, so
 * when `image` is there it comes first).
 */
export function statusStartsWithImage(head: Buffer): boolean {
  return head[0] === 0 && head.readUInt32BE(1) > 0 && head[5] === ((FIELD.statusImage << 3) | WIRE_LEN);
}

/** The pod a PullImageRequest is for (its sandbox_config.metadata), when it names one. */
export function pullPod(message: Uint8Array): { name: string; namespace: string; uid: string } | undefined {
  try {
    const config = getBytes(message, FIELD.pullSandboxConfig);
    const metadata = config && getBytes(config, FIELD.sandboxMetadata);
    if (!metadata) return undefined;
    const name = getString(metadata, FIELD.metadataName);
    const namespace = getString(metadata, FIELD.metadataNamespace);
    if (!name || !namespace) return undefined;
    return { name, namespace, uid: getString(metadata, FIELD.metadataUid) ?? '' };
  } catch {
    return undefined; // not a message we can read: no pod to tell
  }
}
