// Image references with Docker's normalisation (distribution/reference grammar):
//   nginx                      -> docker.io/library/nginx:latest
//   quay.io/a/b@sha256:...     -> kept, digest preserved, no tag added
//   localhost:5000/app:v1      -> domain localhost:5000
// A first path segment is a domain only if it has "." or ":", is "localhost", or has upper case.

export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const IMAGE_ID = /^(?:sha256:)?[0-9a-f]{64}$/;
const MAX_NAME_LENGTH = 255;

export interface ImageReference {
  /** Normalised registry domain, e.g. "docker.io", "sealos.hub:5000". */
  readonly domain: string;
  /** Repository path without the domain, e.g. "library/nginx". */
  readonly path: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

export type ParseResult = { ok: true; ref: ImageReference } | { ok: false; reason: string };

/** True for image IDs ("sha256:<hex>" or 64 hex), which name no registry. */
export function isImageId(text: string): boolean {
  return IMAGE_ID.test(text);
}

/** Maps Docker Hub's aliases to "docker.io"; other domains are returned as given. */
export function normaliseDomain(domain: string): string {
  return DOCKER_HUB_ALIASES.has(domain.toLowerCase()) ? DOCKER_HUB : domain;
}

export function parseReference(text: string): ParseResult {
  if (text === '') return { ok: false, reason: 'empty reference' };
  if (isImageId(text)) return { ok: false, reason: 'image ID' };

  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return { ok: false, reason: `invalid digest "${digest}"` };
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return { ok: false, reason: `invalid tag "${tag}"` };
  }
  if (rest.length > MAX_NAME_LENGTH) return { ok: false, reason: 'repository name too long' };

  let domain = DOCKER_HUB;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      if (!DOMAIN.test(first)) return { ok: false, reason: `invalid domain "${first}"` };
      domain = normaliseDomain(first);
      path = rest.slice(slash + 1);
    }
  }
  const components = path.split('/');
  for (const c of components) {
    if (!COMPONENT.test(c)) return { ok: false, reason: `invalid repository name "${path}"` };
  }
  if (domain === DOCKER_HUB && components.length === 1) path = `library/${path}`;
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { ok: true, ref: { domain, path, tag, digest } };
}

/** "tag" or "digest" part used in the manifest URL: the digest wins when both are present. */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

export function formatReference(
  domain: string,
  path: string,
  tag: string | undefined,
  digest: string | undefined,
): string {
  return `${domain}/${path}${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
}

export function referenceString(ref: ImageReference): string {
  return formatReference(ref.domain, ref.path, ref.tag, ref.digest);
}
