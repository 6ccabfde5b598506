// Reading the one request message of an intercepted unary call, bounded: by the message limit,
// by the bytes all intercepted calls may hold together, by the image name's length (known from
// the first bytes), and in time by the caller's deadline or REQUEST_READ_MS.

import type { ServerHttp2Stream } from 'node:http2';
import { declaredLength, MAX_FRAMED_BYTES, MAX_MESSAGE_BYTES, Status } from './grpc.js';
import { MAX_REFERENCE_BYTES, REQUEST_READ_MS, type ByteBudget } from './limits.js';
import { failCall } from './relay.js';
import { declaredImageLength } from './wire.js';

/**
 * The bytes a call holds against the shared budget: reserved whole when the message's length
 * prefix arrives (so concurrent large requests cannot starve each other chunk by chunk, all
 * failing half-read), more only if the caller sends past it; all given back when the call's
 * stream closes.
 */
class Holding {
  private held = 0;

  constructor(
    stream: ServerHttp2Stream,
    private readonly budget: ByteBudget,
  ) {
    stream.once('close', () => budget.give(this.held));
  }

  /** Holds at least `bytes` in all; false when the budget has no room for them. */
  cover(bytes: number): boolean {
    if (bytes <= this.held) return true;
    if (!this.budget.take(bytes - this.held)) return false;
    this.held = bytes;
    return true;
  }
}

/**
 * Resolves with the request as soon as its one message is complete (the caller's END_STREAM
 * may follow later; the relay would not wait for it either), or at the end of the stream.
 * When a bound is passed it answers the caller itself and resolves with the gRPC status it
 * gave; rejects when the caller leaves.
 */
export function readRequest(
  stream: ServerHttp2Stream,
  budget: ByteBudget,
  deadlineMs: number | undefined,
): Promise<Buffer | number> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (body: Buffer | number) => {
      settled = true;
      clearTimeout(timer);
      stream.removeAllListeners('data');
      resolve(body);
    };
    const refuse = (code: number, message: string) => {
      failCall(stream, code, message);
      settle(code);
    };
    const waitMs = Math.min(deadlineMs ?? REQUEST_READ_MS, REQUEST_READ_MS);
    const timer = setTimeout(
      () => refuse(Status.DEADLINE_EXCEEDED, `request message not received within ${waitMs}ms`),
      waitMs,
    );
    let declared: number | undefined;
    let nameChecked = false;
    const holding = new Holding(stream, budget);
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      const head = () => (chunks.length === 1 ? chunk : Buffer.concat(chunks, size));
      if (declared === undefined && size >= 5) {
        declared = declaredLength(head());
        if (declared !== undefined && declared > MAX_MESSAGE_BYTES)
          return refuse(Status.RESOURCE_EXHAUSTED, tooBig(declared));
      }
      if (!nameChecked) {
        const nameLength = declaredImageLength(head());
        nameChecked = nameLength !== undefined || size > 64;
        if (nameLength !== undefined && nameLength > MAX_REFERENCE_BYTES) {
          return refuse(
            Status.INVALID_ARGUMENT,
            `image reference of ${nameLength} bytes; the limit is ${MAX_REFERENCE_BYTES} (no registry accepts names ` +
              `that long)`,
          );
        }
      }
      if (!holding.cover(Math.max(size, declared === undefined ? 0 : declared + 5))) {
        return refuse(
          Status.RESOURCE_EXHAUSTED,
          `image-cri-shim is holding ${budget.limit >> 20} MiB of requests already; try again`,
        );
      }
      if (size > MAX_FRAMED_BYTES) return refuse(Status.RESOURCE_EXHAUSTED, tooBig(size - 5));
      if (declared !== undefined && size === declared + 5) settle(head());
    });
    stream.once('end', () => settled || settle(Buffer.concat(chunks, size)));
    const fail = (e: Error) => {
      if (settled) return;
      clearTimeout(timer);
      reject(e);
    };
    stream.on('error', fail);
    // Checked before anything is built: this runs on every call's close, almost always after the body.
    stream.once('close', () => settled || fail(new Error('closed')));
  });
}

const tooBig = (length: number) => `grpc: received message larger than max (${length} vs. ${MAX_MESSAGE_BYTES})`;

/**
 * Keeps the bytes of a request being piped elsewhere (ImageStatus goes to the runtime as it
 * comes), within the shared budget and the name limit; gives them once asked, or undefined
 * when a bound was passed (the call is then answered as the runtime answers it, not rewritten).
 */
export function keepRequest(stream: ServerHttp2Stream, budget: ByteBudget): () => Buffer | undefined {
  const chunks: Buffer[] = [];
  let size = 0;
  let dropped = false;
  let nameChecked = false;
  let declared: number | undefined;
  const holding = new Holding(stream, budget);
  const drop = () => {
    dropped = true;
    chunks.length = 0;
  };
  stream.on('data', (chunk: Buffer) => {
    if (dropped) return;
    size += chunk.length;
    chunks.push(chunk);
    // The start of the message is looked at once; later chunks only add to the count.
    const head = () => (chunks.length === 1 ? chunk : Buffer.concat(chunks, size));
    if (declared === undefined && size >= 5) declared = declaredLength(head());
    if (size > MAX_FRAMED_BYTES || !holding.cover(Math.max(size, declared === undefined ? 0 : declared + 5)))
      return drop();
    if (!nameChecked) {
      const nameLength = declaredImageLength(head());
      nameChecked = nameLength !== undefined || size > 64;
      if (nameLength !== undefined && nameLength > MAX_REFERENCE_BYTES) drop();
    }
  });
  return () => (dropped ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
}
