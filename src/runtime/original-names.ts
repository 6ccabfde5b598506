// Original names: after a pull the shim rewrote, the runtime also knows the image by the name
// the caller asked for, spelled as the runtime names what it pulls itself (containerd's CRI
// plugin: the normalised reference, and the repository with the manifest digest):
//
//   | asked for                 | names added (target digest T)                                  |
//   |---------------------------|----------------------------------------------------------------|
//   | busybox:1.36              | docker.io/library/busybox:1.36, docker.io/library/busybox@T     |
//   | quay.io/team/app:2.0      | quay.io/team/app:2.0, quay.io/team/app@T                        |
//   | busybox@D (or :tag@D)     | docker.io/library/busybox@D, only when D = T                    |
//
// A digest is never put on content that does not have it: when the digest fallback pulled a
// tag in place of a pinned digest the registries lack (D ≠ T), no name is added. In the `only`
// mode the registry's names (the same rule applied to the reference pulled) are then removed, so
// the node holds the image as if it had pulled the caller's reference itself. Only
// containerd has an API for this; on other runtimes images keep the registry's names (the
// shim still finds them on the node by those names).

import { runtimeVersion } from '../cri/runtime-info.js';
import type { RuntimeConnection } from '../cri/upstream.js';
import { log } from '../log.js';
import { formatReference, parseReference, type ImageReference } from '../registry/reference.js';
import { ContainerdImages } from './containerd-images.js';

/** Bound on each call the naming makes to the runtime. */
const NAMING_TIMEOUT_MS = 5000;
/** How long the CRI plugin may take to show a new name (it learns of it through an event). */
const VISIBLE_WITHIN_MS = 2000;
const VISIBLE_POLL_MS = 5;

export type NamingOutcome = 'named' | 'failed';

/** The names the runtime would have given the image had it pulled `asked` itself (see the table). */
export function namesAsAsked(asked: ImageReference, targetDigest: string): string[] {
  const { domain, path, tag, digest } = asked;
  if (digest !== undefined) return digest === targetDigest ? [formatReference(domain, path, undefined, digest)] : [];
  return [formatReference(domain, path, tag, undefined), formatReference(domain, path, undefined, targetDigest)];
}

/** One pull to name: what the caller asked for, what was pulled, the image it gave. */
export interface Naming {
  readonly asked: ImageReference;
  /** The rewritten reference the runtime pulled. */
  readonly pulledAs: string;
  /** The pull's image_ref (the image ID). */
  readonly imageId: string;
  /** Remove the registry's names once the caller's are there. */
  readonly only: boolean;
}

/** The ID of the image the runtime's CRI side shows for `name`; undefined when it shows none. */
export type ImageOf = (name: string) => Promise<string | undefined>;

export interface OriginalNamesOptions {
  readonly onOutcome?: (outcome: NamingOutcome) => void;
}

export class OriginalNames {
  private readonly api: ContainerdImages;
  /** Whether the runtime can name images; asked once (again after a failed ask). */
  private support: Promise<boolean> | undefined;
  /** Namings running, by name and image: concurrent pulls of one name share one. */
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly conn: RuntimeConnection,
    private readonly options: OriginalNamesOptions = {},
  ) {
    this.api = new ContainerdImages(conn, NAMING_TIMEOUT_MS);
  }

  /** Asks the runtime who it is and says once whether images will keep the names pods asked for. */
  supported(): Promise<boolean> {
    this.support ??= runtimeVersion(this.conn, NAMING_TIMEOUT_MS).then(
      ({ name, version }) => {
        const yes = name === 'containerd';
        if (yes) log.debug(`original names: containerd ${version}: pulled images also keep the names pods ask for`);
        else
          log.info(
            `original names: the runtime (${name || 'unnamed'} ${version}) has no API to name images; pulled ` +
              `images keep the registry's names only (the shim still finds them on the node by those names)`,
          );
        return yes;
      },
      (e: Error) => {
        this.support = undefined;
        log.debug(`original names: could not ask the runtime its name (${e.message}); asking again at the next pull`);
        return false;
      },
    );
    return this.support;
  }

  /**
   * Gives the image of a pull the names the caller's reference would have given it; `imageOf`
   * says which image the runtime's CRI side shows for a name. Never throws: a failure is a
   * warning and a metric, and the pull stands.
   */
  async add(naming: Naming, imageOf: ImageOf): Promise<void> {
    const { asked, imageId } = naming;
    const key = `${formatReference(asked.domain, asked.path, asked.tag, asked.digest)} ${imageId} ${naming.only}`;
    let running = this.running.get(key);
    if (!running) {
      running = this.name(naming, imageOf).finally(() => this.running.delete(key));
      this.running.set(key, running);
    }
    return running;
  }

  private async name({ asked, pulledAs, imageId, only }: Naming, imageOf: ImageOf): Promise<void> {
    const askedName = formatReference(asked.domain, asked.path, asked.tag, asked.digest);
    try {
      if (pulledAs === askedName || !(await this.supported())) return;
      // Named by an earlier pull already (kubelet pulls again before each start with imagePullPolicy Always).
      // The first name the rule gives does not depend on the content's digest (see the table).
      const first = namesAsAsked(asked, asked.digest ?? '')[0]!;
      if ((await imageOf(first)) === imageId && (!only || (await imageOf(pulledAs)) === undefined)) {
        this.options.onOutcome?.('named');
        return;
      }
      const image = await this.api.get(imageId);
      if (!image) throw new Error(`the runtime has no record of ${imageId}`);
      const names = namesAsAsked(asked, image.digest);
      if (names.length === 0) {
        log.debug(
          `original names: ${askedName}: pulled ${pulledAs} (${image.digest}), which does not have that digest`,
        );
        return;
      }
      for (const name of names) {
        const how = await this.api.point(name, image);
        if (how !== 'unchanged') log.debug(`original names: ${name} ${how} -> ${imageId} (pulled as ${pulledAs})`);
      }
      await this.until(names[0]!, imageOf, true);
      if (only) await this.removeRegistryNames(pulledAs, image.digest, names, imageOf);
      this.options.onOutcome?.('named');
    } catch (e) {
      log.warn(
        `original names: could not name ${imageId} ${askedName} (pulled as ${pulledAs}): ${(e as Error).message}; ` +
          `the pull stands, under the registry's name`,
      );
      this.options.onOutcome?.('failed');
    }
  }

  /** `only`: the names the pull of `pulledAs` left (the same rule, applied to it) go, once the caller's are there. */
  private async removeRegistryNames(
    pulledAs: string,
    digest: string,
    kept: readonly string[],
    imageOf: ImageOf,
  ): Promise<void> {
    const pulled = parseReference(pulledAs);
    const names = pulled.ok ? namesAsAsked(pulled.ref, digest).filter((n) => !kept.includes(n)) : [];
    for (const name of names) await this.api.remove(name);
    if (names[0]) await this.until(names[0], imageOf, false);
  }

  /** Waits until the runtime's CRI side shows `name` (or, with `shown` false, no longer does). */
  private async until(name: string, imageOf: ImageOf, shown: boolean): Promise<void> {
    const deadline = Date.now() + VISIBLE_WITHIN_MS;
    while (((await imageOf(name)) !== undefined) !== shown) {
      if (Date.now() >= deadline)
        throw new Error(`the runtime did not ${shown ? 'show' : 'drop'} ${name} within ${VISIBLE_WITHIN_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, VISIBLE_POLL_MS));
    }
  }
}
