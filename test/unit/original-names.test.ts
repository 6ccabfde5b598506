// containerd's images API as the shim encodes it, checked against containerd's own schema; the
// names a pulled image gets; and a naming that fails or a runtime without the API never failing
// a pull.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import protobuf from 'protobufjs';
import { parseConfigText } from '../../src/config/load.js';
import { Status, unframe } from '../../src/cri/grpc.js';
import type { RuntimeConnection } from '../../src/cri/upstream.js';
import { setLogSink } from '../../src/log.js';
import { parseReference, type ImageReference } from '../../src/registry/reference.js';
import {
  CRI_MANAGED_LABEL,
  decodeImageResponse,
  encodeCreateRequest,
  encodeGetRequest,
  encodeUpdateRequest,
  managedByCri,
} from '../../src/runtime/containerd-images.js';
import { namesAsAsked, OriginalNames, type NamingOutcome } from '../../src/runtime/original-names.js';
import { FakeProber } from '../support/fake-prober.js';
import { type FakeAnswer, type FakeRuntime, startFakeRuntime, startFront } from '../support/fake-runtime.js';
import { grpcRequest, header, imageRequest, RawH2Client } from '../support/h2-client.js';
import { tempDir } from '../support/procs.js';

// containerd api/services/images/v1/images.proto and api/types/descriptor.proto, as published.
const CONTAINERD = protobuf.parse(
  `
syntax = "proto3";
package containerd.services.images.v1;
message Timestamp { int64 seconds = 1; int32 nanos = 2; }
message FieldMask { repeated string paths = 1; }
message Descriptor { string media_type = 1; string digest = 2; int64 size = 3; map<string, string> annotations = 5; }
message Image {
  string name = 1; map<string, string> labels = 2; Descriptor target = 3;
  Timestamp created_at = 7; Timestamp updated_at = 8;
}
message GetImageRequest { string name = 1; }
message GetImageResponse { Image image = 1; }
message CreateImageRequest { Image image = 1; }
message UpdateImageRequest { Image image = 1; FieldMask update_mask = 2; }
message DeleteImageRequest { string name = 1; bool sync = 2; }
`,
  { keepCase: true },
).root;
const type = (name: string) => CONTAINERD.lookupType(`containerd.services.images.v1.${name}`);
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const TARGET = {
  media_type: 'application/vnd.oci.image.manifest.v1+json',
  digest: DIGEST,
  size: 402,
  annotations: { 'org.opencontainers.image.ref.name': 'v1' },
};
const targetBytes = () => type('Descriptor').encode(type('Descriptor').fromObject(TARGET)).finish();
const decode = (name: string, bytes: Uint8Array) =>
  type(name).toObject(type(name).decode(bytes), { longs: Number }) as Record<string, never>;

describe("containerd's images API messages", () => {
  it('Get and Delete name the image in field 1 (Delete not waiting for the cleanup)', () => {
    for (const request of ['GetImageRequest', 'DeleteImageRequest'])
      assert.deepEqual(decode(request, encodeGetRequest('docker.io/library/busybox:1.36')), {
        name: 'docker.io/library/busybox:1.36',
      });
  });

  it('Create carries the name, the CRI label and the target as containerd sent it', () => {
    const request = decode('CreateImageRequest', encodeCreateRequest('docker.io/library/busybox:1.36', targetBytes()));
    assert.deepEqual(request, {
      image: {
        name: 'docker.io/library/busybox:1.36',
        labels: { [CRI_MANAGED_LABEL.key]: CRI_MANAGED_LABEL.value },
        target: TARGET,
      },
    });
  });

  it('Update changes the target and the CRI label only (field mask)', () => {
    const request = decode('UpdateImageRequest', encodeUpdateRequest('docker.io/library/x:1', targetBytes()));
    assert.deepEqual(request.update_mask, { paths: ['target', `labels.${CRI_MANAGED_LABEL.key}`] });
    assert.equal((request.image as { name: string }).name, 'docker.io/library/x:1');
  });

  it('a Get answer gives the name, the target bytes and its digest; the label is read from the map', () => {
    const answer = (labels: Record<string, string>) =>
      type('GetImageResponse')
        .encode(
          type('GetImageResponse').fromObject({
            image: { name: 'sha256:1234', labels, target: TARGET, created_at: { seconds: 1700000000, nanos: 5 } },
          }),
        )
        .finish();
    const managed = answer({ other: 'x', [CRI_MANAGED_LABEL.key]: CRI_MANAGED_LABEL.value });
    const record = decodeImageResponse(managed);
    assert.equal(record?.name, 'sha256:1234');
    assert.equal(record?.digest, DIGEST);
    assert.deepEqual(Buffer.from(record!.target), Buffer.from(targetBytes()));
    assert.equal(managedByCri(managed), true);
    assert.equal(managedByCri(answer({ other: 'x' })), false);
    assert.equal(decodeImageResponse(new Uint8Array(0)), undefined);
  });
});

function ref(text: string): ImageReference {
  const parsed = parseReference(text);
  assert.ok(parsed.ok);
  return parsed.ref;
}

describe('the names a rewritten pull adds', () => {
  const OTHER = `sha256:${'cd'.repeat(32)}`;
  const cases: [string, string, string[]][] = [
    ['busybox:1.36', DIGEST, ['docker.io/library/busybox:1.36', `docker.io/library/busybox@${DIGEST}`]],
    ['busybox', DIGEST, ['docker.io/library/busybox:latest', `docker.io/library/busybox@${DIGEST}`]],
    ['index.docker.io/team/app:2', DIGEST, ['docker.io/team/app:2', `docker.io/team/app@${DIGEST}`]],
    ['quay.io/team/app:2.0', DIGEST, ['quay.io/team/app:2.0', `quay.io/team/app@${DIGEST}`]],
    [`busybox@${DIGEST}`, DIGEST, [`docker.io/library/busybox@${DIGEST}`]],
    [`busybox:1.36@${DIGEST}`, DIGEST, [`docker.io/library/busybox@${DIGEST}`]],
    // The digest fallback pulled the tag: the pinned digest goes on no name.
    [`busybox:1.36@${OTHER}`, DIGEST, []],
    [`busybox@${OTHER}`, DIGEST, []],
  ];
  for (const [asked, target, expected] of cases)
    it(`${asked}`, () => assert.deepEqual(namesAsAsked(ref(asked), target), expected));
});

const tmp = tempDir('names-unit');
const runtimeSocket = join(tmp.path, 'runtime.sock');
const shimSocket = join(tmp.path, 'shim.sock');
/** Each method's answer (a message, or a gRPC error status); an empty message otherwise. */
let answers: Record<string, FakeAnswer> = {};
let runtime: FakeRuntime;
/** The paths the runtime was asked since the test began. */
let askedFrom = 0;
const asked = () => runtime.asked.slice(askedFrom).map((a) => a.path);
let conn: RuntimeConnection;
let front: Awaited<ReturnType<typeof startFront>>;
const outcomes: NamingOutcome[] = [];
const lines: string[] = [];

const versionAnswer = (name: string) =>
  protobuf.Writer.create().uint32(18).string(name).uint32(26).string('9.9').uint32(34).string('v1').finish();
const imageRecord = () =>
  type('GetImageResponse')
    .encode(type('GetImageResponse').fromObject({ image: { name: 'sha256:feed', target: TARGET } }))
    .finish();

before(async () => {
  runtime = await startFakeRuntime(runtimeSocket, (method) => answers[method] ?? new Uint8Array(0));
  front = await startFront({
    shimSocket,
    runtimeSocket,
    config: parseConfigText('address: http://sealos.hub:5000\n', 'test', {}).config,
    prober: new FakeProber({ 'sealos.hub:5000': 'found' }),
    names: (conn) => new OriginalNames(conn, { onOutcome: (o) => outcomes.push(o) }),
  });
  conn = front.conn;
  setLogSink((l) => lines.push(l));
});

after(async () => {
  setLogSink((l) => process.stderr.write(`${l}\n`));
  await front.stop();
  await runtime.close();
  tmp.remove();
});

beforeEach(() => {
  askedFrom = runtime.asked.length;
  outcomes.length = 0;
  lines.length = 0;
});

async function pull(image: string): Promise<{ status: string | undefined; imageRef: string }> {
  const client = await RawH2Client.connect(shimSocket);
  const r = await client.result(
    client.request(grpcRequest('/runtime.v1.ImageService/PullImage', 'localhost'), { body: imageRequest(image) }),
  );
  client.close();
  const message = r.data.length ? unframe(r.data)!.message : Buffer.alloc(0);
  return { status: header(r.headers.at(-1), 'grpc-status'), imageRef: message.subarray(2).toString() };
}

const PULLED = protobuf.Writer.create().uint32(10).string('sha256:feed').finish();

describe('naming never fails a pull', () => {
  it('the images API refusing: the pull succeeds, with a warning and the metric', async () => {
    answers = {
      Version: versionAnswer('containerd'),
      PullImage: PULLED,
      Get: imageRecord(),
      Create: Status.UNAVAILABLE,
    };
    const r = await pull('app:v1');
    assert.deepEqual(r, { status: '0', imageRef: 'sha256:feed' });
    assert.ok(asked().includes('/containerd.services.images.v1.Images/Create'), asked().join(' '));
    assert.deepEqual(outcomes, ['failed']);
    assert.ok(
      lines.some((l) => /WARN .*original names: could not name sha256:feed docker\.io\/library\/app:v1/.test(l)),
      lines.join('\n'),
    );
  });

  it('the runtime not showing the name in time: the pull succeeds, counted as failed', async () => {
    answers = { Version: versionAnswer('containerd'), PullImage: PULLED, Get: imageRecord() };
    const started = Date.now();
    const r = await pull('late:v1');
    assert.equal(r.status, '0');
    assert.ok(Date.now() - started < 5000);
    assert.deepEqual(outcomes, ['failed']);
    assert.ok(
      lines.some((l) => l.includes('did not show docker.io/library/late:v1')),
      lines.join('\n'),
    );
  });

  it('a runtime that is not containerd is asked once, never through the images API, and said so once', async () => {
    answers = { Version: versionAnswer('cri-o'), PullImage: PULLED };
    const names = new OriginalNames(conn);
    assert.equal(await names.supported(), false);
    assert.equal(await names.supported(), false);
    assert.equal(asked().filter((m) => m.endsWith('/Version')).length, 1);
    assert.equal(lines.filter((l) => l.includes('has no API to name images')).length, 1);
    await names.add(
      { asked: ref('app:v1'), pulledAs: 'sealos.hub:5000/library/app:v1', imageId: 'sha256:feed', only: false },
      async () => 'sha256:feed',
    );
    assert.ok(!asked().some((m) => m.includes('containerd.services.images')), asked().join(' '));
  });
});
