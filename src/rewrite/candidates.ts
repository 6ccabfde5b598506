// Which registries may serve an image, in the order they are tried.
//
//   | rule                          | order                                                   |
//   |-------------------------------|---------------------------------------------------------|
//   | priority                      | higher first (0–10000)                                   |
//   | equal priority                | the offline registry (`address`) first                   |
//   | still equal                   | domain alphabetically, Docker Hub as "index.docker.io"   |
//   |                               | (as the Go shim compares it), then prefix                |
//   | still equal (same registry)   | config order                                             |
//
// The source domain is dropped: an offline registry serves images of every origin under
// the same repository path, optionally below its own path prefix.

import { formatReference, type ImageReference } from '../registry/reference.js';
import { displayDomain, type Registry } from '../registry/registry.js';

export interface Candidate {
  readonly registry: Registry;
  /** Repository path at that registry (prefix included). */
  readonly path: string;
  /** The rewritten reference handed to the runtime. */
  readonly image: string;
}

export function compareRegistries(a: Registry, b: Registry): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  if (a.offline !== b.offline) return a.offline ? -1 : 1;
  const [da, db] = [displayDomain(a), displayDomain(b)];
  if (da !== db) return da < db ? -1 : 1;
  if (a.prefix !== b.prefix) return a.prefix < b.prefix ? -1 : 1;
  return 0;
}

/** Registries in trial order (a stable sort keeps config order for exact ties). */
export function orderRegistries(registries: readonly Registry[]): Registry[] {
  return [...registries].sort(compareRegistries);
}

export function candidateFor(ref: ImageReference, registry: Registry): Candidate {
  const path = registry.prefix ? `${registry.prefix}/${ref.path}` : ref.path;
  return { registry, path, image: formatReference(registry.domain, path, ref.tag, ref.digest) };
}

/** Candidates for `ref`, given registries already in trial order. */
export function candidates(ref: ImageReference, ordered: readonly Registry[]): Candidate[] {
  return ordered.map((r) => candidateFor(ref, r));
}
