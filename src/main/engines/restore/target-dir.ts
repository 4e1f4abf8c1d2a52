import { constants } from 'node:fs';
import { access, mkdir, readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { DrcError } from '../../../shared/errors.js';
import { pseudoFilesystem } from '../../storage/pseudo-filesystem.js';

/** Whether a restore may write into a directory, found without creating or changing anything. */
export type TargetDirectoryCheck =
  | {
      readonly ready: true;
      /** False when the restore is to create the directory (its parent exists). */
      readonly exists: boolean;
      /** The directory whose file system the restore fills: the target, or its parent while it does not exist. */
      readonly filesystemDirectory: string;
      readonly message: string;
    }
  | { readonly ready: false; readonly refusal: DrcError };

/**
 * validate: whether `targetDir` can take a restore — new (under a parent that exists) or
 * empty, no server running there, on a writable file system that stores files rather than
 * a kernel's pseudo file system. The restore plan asks this to say "ready"; the restore
 * asks it again before creating anything.
 */
export async function checkTargetDirectory(targetDir: string): Promise<TargetDirectoryCheck> {
  const path = resolve(targetDir);
  let exists: boolean;
  try {
    const info = await stat(path);
    if (!info.isDirectory()) {
      return refused('RESTORE_TARGET_NOT_EMPTY', `unable to restore into '${targetDir}': it is a file, not a directory`, 'choose a new or empty directory with --target-dir');
    }
    exists = true;
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') return refused('RESTORE_TARGET_UNREACHABLE', `unable to reach restore directory '${targetDir}': ${(error as Error).message}`, 'check the path and the permissions of the directories above it');
    exists = false;
  }

  const parent = dirname(path);
  if (!exists) {
    // Only the target itself is created: a mistyped parent is reported, not silently made.
    const parentInfo = await stat(parent).catch((error: unknown) => error as NodeJS.ErrnoException);
    if (parentInfo instanceof Error) {
      const why = parentInfo.code === 'ENOENT' ? 'does not exist' : parentInfo.code === 'ENOTDIR' ? 'lies under a file' : `cannot be reached: ${parentInfo.message}`;
      return refused('RESTORE_TARGET_UNREACHABLE', `unable to create restore directory '${targetDir}': its parent directory '${parent}' ${why}`, `create the parent directory first (mkdir -p '${parent}'), or choose another --target-dir`);
    }
    if (!parentInfo.isDirectory()) return refused('RESTORE_TARGET_UNREACHABLE', `unable to create restore directory '${targetDir}': '${parent}' is a file, not a directory`, 'choose another --target-dir');
  }

  const filesystemDirectory = exists ? path : parent;
  const pseudo = await pseudoFilesystem(filesystemDirectory);
  if (pseudo !== undefined) {
    return refused('RESTORE_TARGET_UNREACHABLE', `unable to restore into '${targetDir}': it lies on ${pseudo}, a pseudo file system the kernel makes up, which cannot hold a data directory`, 'choose a directory on a disk with --target-dir, e.g. under /var/lib/postgresql or /srv');
  }
  try {
    await access(filesystemDirectory, constants.W_OK);
  } catch (error) {
    if (errorCode(error) === 'EROFS') {
      return refused('RESTORE_TARGET_UNREACHABLE', `unable to restore into '${targetDir}': '${filesystemDirectory}' is on a read-only file system`, 'choose a directory on a writable file system, or remount this one read-write');
    }
    return refused('RESTORE_TARGET_UNREACHABLE', `unable to restore into '${targetDir}': '${filesystemDirectory}' cannot be written by this user`, 'choose a directory under one this user owns, or run as the user that will run PostgreSQL');
  }
  if (!exists) return { ready: true, exists, filesystemDirectory, message: `'${targetDir}' does not exist yet: the restore creates it in '${parent}'` };

  let entries: string[];
  try {
    entries = await readdir(path);
  } catch (error) {
    return refused('RESTORE_TARGET_UNREACHABLE', `unable to read restore directory '${targetDir}': ${(error as Error).message}`, 'check the permissions of the directory');
  }
  if (entries.includes('postmaster.pid')) {
    return refused('RESTORE_TARGET_IN_USE', `unable to restore into '${targetDir}': postmaster.pid is present, so PostgreSQL is running there (or crashed without cleaning up)`, 'stop that server first (pg_ctl stop -D …), or choose another --target-dir; nothing was changed');
  }
  if (entries.length > 0) {
    return refused('RESTORE_TARGET_NOT_EMPTY', `unable to restore into '${targetDir}': the directory is not empty (${String(entries.length)} entr${entries.length === 1 ? 'y' : 'ies'}, e.g. '${entries[0] ?? ''}')`, 'restore never overwrites: choose a new or empty directory with --target-dir, or move the old one aside first');
  }
  return { ready: true, exists, filesystemDirectory, message: `'${targetDir}' is empty` };
}

/**
 * validate: refuse early, before a byte is fetched, a target directory that holds
 * anything (a running server's files above all), cannot be written, or lies on a pseudo
 * file system; then create it if it is new. It is created alone, never with its parents:
 * Node's recursive mkdir never returns for a path under /proc (mkdir says ENOENT, its
 * parent exists, so it tries again, forever, at full CPU and deaf to SIGTERM).
 */
export async function prepareTargetDirectory(targetDir: string): Promise<void> {
  const check = await checkTargetDirectory(targetDir);
  if (!check.ready) throw check.refusal;
  if (check.exists) return;
  try {
    await mkdir(targetDir, { mode: 0o700 });
  } catch (error) {
    throw new DrcError('RESTORE_TARGET_UNREACHABLE', `unable to create restore directory '${targetDir}': ${(error as Error).message}`, {
      hints: [errorCode(error) === 'EEXIST' ? 'something else created the directory meanwhile: check what writes there, then restore again' : 'check that the parent directory is writable by this user'],
      cause: error,
    });
  }
}

export const walDirectory = (targetDir: string): string => join(targetDir, 'pg_wal');

function refused(code: 'RESTORE_TARGET_NOT_EMPTY' | 'RESTORE_TARGET_IN_USE' | 'RESTORE_TARGET_UNREACHABLE', message: string, hint: string): TargetDirectoryCheck {
  return { ready: false, refusal: new DrcError(code, message, { hints: [hint] }) };
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}
