// What the registry client and the Kubernetes client both need around HTTP: reading an answer
// within a bound, and the Basic authorization header.

/**
 * Reads a body to its end; past `limit` bytes the body is destroyed (dropping its connection)
 * and `tooLarge()` is thrown.
 */
export async function readBounded(
  body: AsyncIterable<Buffer> & { destroy(): unknown },
  limit: number,
  tooLarge: () => Error,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** `Authorization: Basic …` for a username and password. */
export function basicAuthorization(credentials: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}
