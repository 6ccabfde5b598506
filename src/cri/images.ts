// The three intercepted ImageService methods. Each edits only ImageSpec.image (and
// PullImageRequest.auth) and otherwise behaves as the runtime does: the runtime's answers and
// errors reach the caller as the runtime gave them. PullImage and RemoveImage read their one
// request message first; ImageStatus, the hot one (kubelet asks before every container start),
// streams its request to the runtime as it comes and reads it only when the runtime does not
// know the name.

import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { log } from '../log.js';
import { isImageId, normaliseDomain, type ImageReference } from '../registry/reference.js';
import { parseRegistryAddress, registryLabel, type Registry } from '../registry/registry.js';
import { winnerOf, type RewriteEngine } from '../rewrite/engine.js';
import type { OriginalNamesMode } from '../config/types.js';
import type { PullReport } from '../rewrite/provenance.js';
import type { OriginalNames } from '../runtime/original-names.js';
import { ORIGINAL, pullPlan, type PullSource } from '../rewrite/pull-plan.js';
import { formatGrpcTimeout, frame, grpcMessage, parseGrpcTimeout, Status, trailersOnly, unframe } from './grpc.js';
import type { ByteBudget } from './limits.js';
import { callerGone, callUnary, failCall, openUnary, replay, requestHeaders, type UnaryResult } from './relay.js';
import { keepRequest } from './request-body.js';
import type { RuntimeConnection } from './upstream.js';
import {
  authServerAddress,
  FIELD,
  getString,
  hasAuth,
  statusImageId,
  onlyField,
  pullPod,
  requestImage,
  statusHasImage,
  statusStartsWithImage,
  withAuth,
  withoutField,
  withRequestImage,
} from './wire.js';

export type ImageMethod = 'PullImage' | 'ImageStatus' | 'RemoveImage';

export interface ImageCallEnv {
  readonly conn: RuntimeConnection;
  readonly engine: RewriteEngine;
  /** Read per call, so a reload applies to the next call and not to one in flight. */
  readonly settings: () => {
    timeoutMs: number;
    fallback: boolean;
    idleTimeoutMs: number;
    originalNames: OriginalNamesMode;
  };
  /** Told of each pull the shim decided on, after the caller has its answer. */
  readonly onPulled?: (report: PullReport) => void;
  /** Gives the image of a rewritten pull the name the caller asked for (when the runtime can). */
  readonly names?: OriginalNames;
}

/** One intercepted call: its request, deadline and cancellation. */
class ImageCall {
  /** Undefined: no deadline (a pull the caller gave none). */
  private readonly deadline: number | undefined;

  constructor(
    readonly stream: ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
    readonly service: string,
    /** The request body as received (framed), sent on unchanged where nothing is edited. */
    readonly body: Buffer,
    readonly message: Buffer,
    /** For calls that carry no deadline of their own; undefined: none. */
    defaultTimeoutMs: number | undefined,
    receivedAt = Date.now(),
  ) {
    const timeout = parseGrpcTimeout(headers['grpc-timeout']) ?? defaultTimeoutMs;
    this.deadline = timeout === undefined ? undefined : receivedAt + timeout;
  }

  /** The caller left before its answer (checked only while the answer is still to come). */
  get cancelled(): boolean {
    return callerGone(this.stream);
  }

  /** Headers for one call to the runtime, carrying what is left of the caller's deadline. */
  upstreamHeaders(method: string): OutgoingHttpHeaders {
    const out = requestHeaders(this.headers, 0);
    out[':path'] = `/${this.service}/${method}`;
    if (this.deadline !== undefined) out['grpc-timeout'] = formatGrpcTimeout(this.deadline - Date.now());
    return out;
  }

  /** Calls the runtime with `message`, or with the caller's own body when none is given. */
  send(env: ImageCallEnv, method: string, message?: Uint8Array): Promise<UnaryResult> {
    return callUnary(env.conn, this.upstreamHeaders(method), message ? frame(message) : this.body, this.stream);
  }
}

/** The image a request names, when it is a message the shim can read and a name it may rewrite. */
function rewritableImage(body: Buffer): { message: Buffer; image: string | undefined } {
  const framed = unframe(body);
  let image: string | undefined;
  try {
    image = framed && !framed.compressed ? requestImage(framed.message) : undefined;
  } catch {
    image = undefined; // not a message we can read: the runtime will say what is wrong with it
  }
  // Compressed, malformed, empty or an image ID: nothing to edit.
  if (image === '' || (image !== undefined && isImageId(image))) image = undefined;
  return { message: framed?.message ?? body, image };
}

/**
 * Handles PullImage or RemoveImage whose request body has been read in full. `service` is
 * "runtime.v1.ImageService" or "runtime.v1alpha2.ImageService".
 */
export async function handleImageCall(
  env: ImageCallEnv,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  service: string,
  method: 'PullImage' | 'RemoveImage',
  body: Buffer,
): Promise<number> {
  const settings = env.settings();
  const { message, image } = rewritableImage(body);
  // kubelet sends pulls without a deadline, and a large image takes as long as it takes: `timeout` is not for them.
  const call = new ImageCall(
    stream,
    headers,
    service,
    body,
    message,
    method === 'PullImage' ? undefined : settings.timeoutMs,
  );
  try {
    if (image === undefined) return done(call, await call.send(env, method));
    if (method === 'PullImage') return await pull(env, call, image, settings);
    return await remove(env, call, image);
  } catch (e) {
    return unavailable(stream, e);
  }
}

/**
 * Handles ImageStatus: the caller's request goes to the runtime as it arrives, its bytes kept;
 * the runtime's answer stands when it knows the name (or fails): one that starts with an Image
 * goes on to the caller as it arrives, as a relayed answer would. Only otherwise is the kept
 * request read, and the rewritten name asked about.
 */
export async function handleImageStatus(
  env: ImageCallEnv,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  service: string,
  held: ByteBudget,
): Promise<number> {
  const receivedAt = Date.now();
  const settings = env.settings();
  try {
    const { up, answer } = openUnary(env.conn, requestHeaders(headers, settings.timeoutMs), stream, {
      stream,
      when: statusStartsWithImage,
    });
    const kept = keepRequest(stream, held);
    stream.on('error', () => {});
    stream.pipe(up);
    const known = await answer;
    if (known.forwarded) return known.status;
    if (runtimeKnows(known)) return replied(stream, known);
    const body = kept();
    const request = body && rewritableImage(body);
    if (!body || request?.image === undefined) return replied(stream, known);
    const call = new ImageCall(stream, headers, service, body, request.message, settings.timeoutMs, receivedAt);
    const onNode = await findOnNode(env, call, request.message, request.image);
    if (onNode) return done(call, onNode.answer);
    const winner = winnerOf(await env.engine.decide(request.image, 'ImageStatus'));
    if (!winner) return replied(stream, known);
    return done(call, await call.send(env, 'ImageStatus', withRequestImage(request.message, winner.image)));
  } catch (e) {
    return unavailable(stream, e);
  }
}

/** A call the runtime never answered, as the answer the caller gets for it. */
function unavailableResult(e: unknown): UnaryResult {
  const headers = trailersOnly(
    Status.UNAVAILABLE,
    `runtime unavailable: ${(e as Error).message}`,
  ) as IncomingHttpHeaders;
  return { headers, body: Buffer.alloc(0), trailers: undefined, status: Status.UNAVAILABLE };
}

function unavailable(stream: ServerHttp2Stream, e: unknown): number {
  failCall(stream, Status.UNAVAILABLE, `runtime unavailable: ${(e as Error).message}`);
  return Status.UNAVAILABLE;
}

/** An ImageStatus answer says the runtime knows the name; an error is the runtime's to give. */
function runtimeKnows(answer: UnaryResult): boolean {
  return (
    answer.status !== Status.OK ||
    (answer.trailers !== undefined && statusHasImage(unframe(answer.body)?.message ?? Buffer.alloc(0)))
  );
}

async function pull(
  env: ImageCallEnv,
  call: ImageCall,
  image: string,
  { fallback, originalNames }: ReturnType<ImageCallEnv['settings']>,
): Promise<number> {
  const decision = await env.engine.decide(image, 'PullImage');
  // The caller left while the registries were asked: nothing to pull for.
  if (call.cancelled) return Status.CANCELLED;
  // Not a reference the shim rewrites (unparseable): the runtime answers for it.
  if (!decision.ref) return done(call, await call.send(env, 'PullImage'));
  const callerRegistry = hasAuth(call.message) ? callerCredentialsDomain(call.message, decision.ref.domain) : undefined;
  // A reset answer is a failed attempt like any other: a runtime error too large to send (over
  // the 64 KiB header limit) must not end the fallback to the next registry.
  const attemptPull = (source: PullSource) => {
    const message =
      source === ORIGINAL
        ? undefined
        : withPullAuth(withRequestImage(call.message, source.image), source.registry, callerRegistry);
    return call.send(env, 'PullImage', message).catch(unavailableResult);
  };

  let last: { source: PullSource; result: UnaryResult } | undefined;
  const tried: PullReport['tried'][number][] = [];
  for await (const source of pullPlan(decision, fallback)) {
    if (last) {
      if (call.cancelled || !retryable(last.result.status)) break;
      log.warn(
        `pull of ${last.source === ORIGINAL ? image : last.source.image} failed ` +
          `(${grpcMessage(last.result.trailers ?? last.result.headers)}); trying ` +
          `${source === ORIGINAL ? `the original ${image}` : `${source.image} from ${registryLabel(source.registry)}`}`,
      );
    }
    last = { source, result: await attemptPull(source) };
    tried.push({ source, pulled: last.result.status === Status.OK });
    if (last.result.status === Status.OK) break;
  }
  if (last?.result.status === Status.OK && last.source !== ORIGINAL && originalNames && env.names)
    await nameAsAsked(env, env.names, call, decision.ref, last.source.image, last.result, originalNames === 'only');
  // A caller that left gets no answer and its pod no event.
  const left = call.cancelled;
  let status: number;
  if (last) status = done(call, last.result);
  else {
    status = Status.NOT_FOUND;
    failCall(
      call.stream,
      status,
      `image ${image} not found in any configured registry (fallback is off): ${decision.reason}`,
    );
  }
  if (!left && status !== Status.CANCELLED) env.onPulled?.({ pod: pullPod(call.message), decision, tried, fallback });
  return status;
}

/**
 * Credentials in a request belong to the registry the caller named (kubelet's imagePullSecret
 * for the image's own registry): its `server_address` when set, else the image's domain.
 */
function callerCredentialsDomain(message: Uint8Array, imageDomain: string): string {
  const server = authServerAddress(message);
  return (server && parseRegistryAddress(server)?.domain) || imageDomain;
}

/**
 * The auth a rewritten pull carries to `registry`: the caller's own only when they are for that
 * registry, else the registry's configured credentials, else none. A caller's secret is never
 * sent to another host.
 */
function withPullAuth(message: Buffer, registry: Registry, callerRegistry: string | undefined): Buffer {
  if (callerRegistry !== undefined && normaliseDomain(registry.domain) === normaliseDomain(callerRegistry))
    return message;
  const creds = registry.credentials;
  return creds ? withAuth(message, creds.username, creds.password) : withoutField(message, FIELD.pullAuth);
}

/** Errors that say the caller is gone or out of time are final; others may succeed elsewhere. */
function retryable(status: number): boolean {
  return status !== Status.CANCELLED && status !== Status.DEADLINE_EXCEEDED;
}

function done(call: ImageCall, result: UnaryResult): number {
  return replied(call.stream, result);
}

function replied(stream: ServerHttp2Stream, result: UnaryResult): number {
  replay(stream, result);
  return result.status;
}

/**
 * The image of a rewritten pull, named as the caller asked for it too, before the caller has
 * its answer (so its next call by that name finds it). Never fails the pull.
 */
async function nameAsAsked(
  env: ImageCallEnv,
  names: OriginalNames,
  call: ImageCall,
  asked: ImageReference,
  pulledAs: string,
  result: UnaryResult,
  only: boolean,
): Promise<void> {
  const imageId = getString(unframe(result.body)?.message ?? Buffer.alloc(0), FIELD.pullImageRef);
  if (!imageId) return;
  const statusRequest = onlyField(call.message, FIELD.requestImage);
  await names.add({ asked, pulledAs, imageId, only }, async (name) => {
    const answer = await call.send(env, 'ImageStatus', withRequestImage(statusRequest, name));
    return (runtimeHas(answer) && statusImageId(unframe(answer.body)?.message ?? Buffer.alloc(0))) || undefined;
  });
}

/**
 * The image as the node has it under one of the names the configured registries give it, the
 * first in priority order: asked of the runtime, all at once, before any registry. So an image
 * on the node is found whatever the registries do. `request` is an ImageStatusRequest.
 */
async function findOnNode(
  env: ImageCallEnv,
  call: ImageCall,
  request: Uint8Array,
  image: string,
): Promise<{ name: string; answer: UnaryResult } | undefined> {
  const names = env.engine.namesOnNode(image);
  const asked = names.map((name) =>
    call.send(env, 'ImageStatus', withRequestImage(request, name)).then(
      (answer) => (runtimeHas(answer) ? { name, answer } : undefined),
      () => undefined,
    ),
  );
  for (const answer of asked) {
    const found = await answer;
    if (found) {
      log.debug(`${image} is on the node as ${found.name}`);
      return found;
    }
  }
  return undefined;
}

/** An ImageStatus answer that holds an image. */
function runtimeHas(answer: UnaryResult): boolean {
  return answer.status === Status.OK && runtimeKnows(answer);
}

/**
 * RemoveImage: an ID or name the runtime already knows is removed as given; else the first
 * name the node has it by (see findOnNode); else the rewritten name.
 */
async function remove(env: ImageCallEnv, call: ImageCall, image: string): Promise<number> {
  // An ImageStatusRequest carrying just the caller's ImageSpec asks "do you know this name?".
  const statusRequest = onlyField(call.message, FIELD.requestImage);
  const known = await call.send(env, 'ImageStatus', statusRequest);
  if (runtimeKnows(known)) return done(call, await call.send(env, 'RemoveImage'));
  const name =
    (await findOnNode(env, call, statusRequest, image))?.name ??
    winnerOf(await env.engine.decide(image, 'RemoveImage'))?.image;
  if (!name) return done(call, await call.send(env, 'RemoveImage'));
  return done(call, await call.send(env, 'RemoveImage', withRequestImage(call.message, name)));
}
