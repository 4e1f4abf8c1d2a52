import { access, mkdir, readdir, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import { dirname, join } from 'node:path';
import { DrcError } from '../../../shared/errors.js';

/**
 * validate: refuse early, before a byte is fetched, a target directory that holds
 * anything (a running server's files above all) or cannot be written.
 */
export async function prepareTargetDirectory(targetDir: string): Promise<void> {
  let entries: string[] | undefined;
  try {
    const info = await stat(targetDir);
    if (!info.isDirectory()) {
      throw new DrcError('RESTORE_TARGET_NOT_EMPTY', `unable to restore into '${targetDir}': it is a file, not a directory`, { hints: ['choose a new or empty directory with --target-dir'] });
    }
    entries = await readdir(targetDir);
  } catch (error) {
    if (error instanceof DrcError) throw error;
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw unreachable(targetDir, error);
  }
  if (entries?.includes('postmaster.pid')) {
    throw new DrcError('RESTORE_TARGET_IN_USE', `unable to restore into '${targetDir}': postmaster.pid is present, so PostgreSQL is running there (or crashed without cleaning up)`, {
      hints: ['stop that server first (pg_ctl stop -D …), or choose another --target-dir; nothing was changed'],
    });
  }
  if (entries && entries.length > 0) {
    throw new DrcError('RESTORE_TARGET_NOT_EMPTY', `unable to restore into '${targetDir}': the directory is not empty (${String(entries.length)} entr${entries.length === 1 ? 'y' : 'ies'}, e.g. '${entries[0] ?? ''}')`, {
      hints: ['restore never overwrites: choose a new or empty directory with --target-dir, or move the old one aside first'],
    });
  }
  try {
    await access(dirname(targetDir), constants.W_OK);
    await mkdir(targetDir, { recursive: true, mode: 0o700 });
    await access(targetDir, constants.W_OK);
  } catch (error) {
    throw unreachable(targetDir, error);
  }
}

function unreachable(targetDir: string, error: unknown): DrcError {
  return new DrcError('RESTORE_TARGET_UNREACHABLE', `unable to create restore directory '${targetDir}': ${(error as Error).message}`, {
    hints: ['check that the parent directory exists and is writable by this user'],
    cause: error,
  });
}

export const walDirectory = (targetDir: string): string => join(targetDir, 'pg_wal');
