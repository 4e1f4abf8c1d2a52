import { randomUUID } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { DrcError } from '../../shared/errors.js';
import { LocalTarget, isMissing, repositoryDirectoryMode } from './local.js';
import type { ByteRange, ListOptions, ObjectInfo } from './target.js';

/** Written on the medium itself so rotation can be tracked: which stick holds which backups. */
export interface MediaLabel {
  id: string;
  name: string;
  firstUsed: string;
}

export const mediaLabelObject = 'drc-media.json';

/**
 * A USB stick or removable drive. It behaves as a local directory (atomic, fsynced
 * writes) but a missing mount is "medium not present", not an empty repository, and the
 * medium carries a label. Read-back after write is added by the registry's
 * verify-after-write wrapper, as for every removable target.
 */
export class RemovableTarget extends LocalTarget {
  constructor(options: { name: string; path: string; offsite?: boolean }) {
    super({ ...options, media: 'removable' });
  }

  override put(name: string, body: Buffer): Promise<void> {
    return this.onMedium(() => super.put(name, body));
  }

  override createExclusive(name: string, body: Buffer): Promise<boolean> {
    return this.onMedium(() => super.createExclusive(name, body));
  }

  override get(name: string, range?: ByteRange): Promise<Buffer> {
    return this.onMedium(() => super.get(name, range));
  }

  override head(name: string): Promise<ObjectInfo | undefined> {
    return this.onMedium(() => super.head(name));
  }

  override list(prefix: string, options?: ListOptions): Promise<ObjectInfo[]> {
    return this.onMedium(() => super.list(prefix, options));
  }

  override delete(names: readonly string[]): Promise<void> {
    return this.onMedium(() => super.delete(names));
  }

  /**
   * Never `mkdir -p` from the mount point up: if the stick was pulled, that would
   * recreate its mount point on the workstation's own disk and fill it there. Each level
   * below the mount point is created on its own, so a missing mount point fails.
   */
  protected override async ensureDirectory(directory: string): Promise<void> {
    const mountPoint = dirname(this.root);
    const levels = relative(mountPoint, directory).split(sep).filter((level) => level !== '');
    let current = mountPoint;
    for (const level of levels) {
      current = join(current, level);
      try {
        await mkdir(current, repositoryDirectoryMode);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
  }

  /** Runs an operation on the medium; any failure while the medium is gone is reported as that. */
  private async onMedium<T>(operation: () => Promise<T>): Promise<T> {
    await this.requireMedium();
    try {
      return await operation();
    } catch (error) {
      await this.requireMedium();
      throw error;
    }
  }

  async readMediaLabel(): Promise<MediaLabel | undefined> {
    try {
      return JSON.parse(await readFile(this.pathOf(mediaLabelObject), 'utf8')) as MediaLabel;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  /** Labels the medium the first time a repository is created on it; keeps an existing label. */
  async ensureMediaLabel(now: Date = new Date()): Promise<MediaLabel> {
    const existing = await this.readMediaLabel();
    if (existing) return existing;
    const label: MediaLabel = { id: randomUUID(), name: this.name, firstUsed: now.toISOString() };
    await super.put(mediaLabelObject, Buffer.from(`${JSON.stringify(label, null, 2)}\n`));
    return label;
  }

  /**
   * The directory that holds the repository directory must exist: that is the mount
   * point (or a folder on it). If it is missing the drive is not plugged in or mounted,
   * and creating it would silently write the backup to the workstation's own disk.
   */
  private async requireMedium(): Promise<void> {
    const mountPoint = dirname(this.root);
    try {
      if ((await stat(mountPoint)).isDirectory()) return;
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    throw new DrcError('MEDIA_NOT_PRESENT', `unable to reach removable repository '${this.name}' at '${this.root}': '${mountPoint}' does not exist`, {
      hints: [`plug in and mount the drive so that '${mountPoint}' exists, then run the command again`],
    });
  }
}
