import { lstat, open, readdir, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { DrcError } from '../../../shared/errors.js';
import { formatLsn, parseLsn, segmentFileName, segmentNumber, segmentStart, type Lsn } from '../../postgres/lsn.js';
import { WalReader } from '../../postgres/wal/reader.js';
import type { TarEntry } from './tar-reader.js';

/**
 * Backing up a data directory on this host by reading its files, as pgBackRest does,
 * instead of having the server stream them: the low-level backup API (pg_backup_start /
 * pg_backup_stop) in one SQL session, a temporary replication slot in that session so
 * the backup's WAL stays in pg_wal until it is copied, and the same exclusions
 * PostgreSQL's own BASE_BACKUP applies. It saves the server the work of reading and
 * sending every byte, and lets an incremental skip unchanged files without reading them.
 * Whatever fails, closing the session aborts the backup and drops the slot.
 */

/** Where the files go: the chunker a streamed base backup feeds, which reads file content itself. */
export interface DataDirectorySink {
  onEntry(entry: TarEntry): void | Promise<void>;
  /** Calls `read` for the content of the entry just announced, unless it needs none (an unchanged file of an incremental). */
  readContent(size: number, read: (into: Buffer) => Promise<number>): Promise<void>;
  onEntryEnd(entry: TarEntry): void | Promise<void>;
}

export interface DataDirectoryBackup {
  readonly startLsn: Lsn;
  readonly stopLsn: Lsn;
  readonly timeline: number;
  readonly bytesTotal: number;
  /** What was left out that a DBA may miss on restore: links and special files, each with why. */
  readonly warnings: string[];
}

/** Directories kept empty, as BASE_BACKUP keeps them: their content is rebuilt or meaningless on restore. */
const emptiedDirectories = new Set(['pg_stat_tmp', 'pg_replslot', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_subtrans', 'pg_wal']);
/** Top-level files BASE_BACKUP leaves out: the running server's, or written by the backup itself. */
const skippedTopLevelFiles = new Set(['postmaster.pid', 'postmaster.opts', 'backup_label', 'tablespace_map', 'backup_manifest', 'postgresql.auto.conf.tmp', 'current_logfiles.tmp']);

/**
 * The configured data directory, checked against the server the session is connected to:
 * the same path the server reports, and the same system identifier in its pg_control. A
 * standby's directory on the same host would pass the second check alone.
 */
export async function checkDataDirectory(client: pg.Client, dataDirectory: string, systemId: string): Promise<string> {
  const reported = (await client.query<{ data_directory: string }>('SHOW data_directory')).rows[0]?.data_directory ?? '';
  let resolved: string;
  let control: Buffer;
  try {
    resolved = await realpath(dataDirectory);
    control = await readFileStart(join(resolved, 'global', 'pg_control'), 8);
  } catch (error) {
    throw new DrcError('BACKUP_FAILED', `unable to read the data directory '${dataDirectory}': ${(error as Error).message}`, {
      hints: ['run DR Console as a user that can read the data directory (root or the server user), or remove cluster.dataDirectory from the config to stream the backup from the server instead'],
      cause: error,
    });
  }
  const serverPath = await realpath(reported).catch(() => reported);
  if (serverPath !== resolved) {
    throw new DrcError('BACKUP_FAILED', `unable to back up from '${dataDirectory}': the server at this connection runs from '${reported}'`, {
      hints: ['set cluster.dataDirectory to the data directory of the server the config connects to, or remove it to stream the backup'],
    });
  }
  const found = control.readBigUInt64LE(0).toString();
  if (found !== systemId) {
    throw new DrcError('BACKUP_FAILED', `unable to back up from '${dataDirectory}': its pg_control names system ${found}, the server is system ${systemId}`, {
      hints: ['set cluster.dataDirectory to the data directory of the server the config connects to'],
    });
  }
  return resolved;
}

/**
 * What went wrong reading in place, as a backup failure the DBA can act on: a missing
 * privilege, an unreadable file, the server gone mid-backup. Errors drc already explains
 * pass through.
 */
export function inPlaceBackupFailure(error: unknown, dataDirectory: string): DrcError {
  if (error instanceof DrcError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new DrcError('BACKUP_FAILED', `unable to back up the data directory '${dataDirectory}' in place: ${message}`, {
    hints: [
      'the configured user needs the REPLICATION attribute, EXECUTE on pg_backup_start and pg_backup_stop, and pg_read_all_settings (or superuser); the OS user running drc must be able to read the data directory',
      'or remove cluster.dataDirectory from the config to stream the backup from the server instead',
    ],
    cause: error,
  });
}

/** Tablespaces live outside the data directory; such clusters are streamed (BASE_BACKUP sends each one). */
export async function hasTablespaces(dataDirectory: string): Promise<boolean> {
  const links = await readdir(join(dataDirectory, 'pg_tblspc')).catch((error: NodeJS.ErrnoException) => {
    // Only a missing pg_tblspc means none; an unreadable one must not pass for empty.
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  return links.length > 0;
}

/**
 * Copies the data directory into `sink` between pg_backup_start and pg_backup_stop, then
 * the backup_label the server returns and the WAL segments from start to stop, so the
 * result restores exactly as a streamed base backup with its WAL does.
 */
export async function copyDataDirectory(
  client: pg.Client,
  dataDirectory: string,
  options: {
    label: string;
    /** An immediate checkpoint (default) or one the server spreads over checkpoint_completion_target. */
    fastCheckpoint?: boolean;
    walSegmentSize: number;
    sink: DataDirectorySink;
    onStart: (startLsn: Lsn) => void;
  },
): Promise<DataDirectoryBackup> {
  const slot = `drc_backup_${String(process.pid)}_${String(Date.now())}`;
  // Reserves WAL from now on for as long as this session lives: the segments up to the stop point cannot be recycled before they are read.
  await client.query('SELECT pg_create_physical_replication_slot($1, true, true)', [slot]);
  const started = await client.query<{ lsn: string }>('SELECT pg_backup_start($1, $2)::text AS lsn', [options.label, options.fastCheckpoint ?? true]);
  const startLsn = parseLsn(started.rows[0]?.lsn ?? '');
  options.onStart(startLsn);

  let bytesTotal = 0;
  /** `required` files must be there; others may vanish between listing and reading. `inspect` sees the content as it is read. */
  const copyFile = async (path: string, relative: string, required = false, inspect?: (data: Buffer) => void): Promise<void> => {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      // Dropped since the directory was listed: recovery replays the drop.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !required) return;
      throw error;
    }
    try {
      const info = await handle.stat();
      const entry = fileEntry(relative, info.size, info.mode, info.mtimeMs);
      bytesTotal += entry.size;
      await options.sink.onEntry(entry);
      let position = 0;
      await options.sink.readContent(entry.size, async (into) => {
        const { bytesRead } = await handle.read(into, 0, into.length, position);
        inspect?.(into.subarray(0, bytesRead));
        position += bytesRead;
        return bytesRead;
      });
      await options.sink.onEntryEnd(entry);
    } finally {
      await handle.close();
    }
  };

  const warnings: string[] = [];
  await walk(dataDirectory, '', options.sink, copyFile, warnings);

  const stopped = await client.query<{ lsn: string; labelfile: string; spcmapfile: string | null }>('SELECT lsn::text AS lsn, labelfile, spcmapfile FROM pg_backup_stop(false)');
  const stop = stopped.rows[0];
  if (!stop) throw new DrcError('PG_PROTOCOL', 'unable to finish the backup: pg_backup_stop returned no row');
  const stopLsn = parseLsn(stop.lsn);
  const timeline = Number(/^START TIMELINE: (\d+)$/m.exec(stop.labelfile)?.[1] ?? Number.NaN);
  if (!Number.isInteger(timeline)) throw new DrcError('PG_PROTOCOL', 'unable to read the start timeline from the backup_label the server returned');

  await addContent(options.sink, 'backup_label', Buffer.from(stop.labelfile));
  if (stop.spcmapfile) await addContent(options.sink, 'tablespace_map', Buffer.from(stop.spcmapfile));
  // As BASE_BACKUP's WAL option: every segment from the start point's to the one holding the stop point.
  const first = segmentNumber(startLsn, options.walSegmentSize);
  const last = segmentNumber(stopLsn - 1n, options.walSegmentSize);
  // Read from pg_wal rather than sent by the server, so checked as it is copied: every
  // record from the first segment's start to the stop point must parse, CRC and chain.
  const check = new WalReader({ segmentSize: options.walSegmentSize, startLsn: segmentStart(first, options.walSegmentSize) });
  for (let segment = first; segment <= last; segment++) {
    const name = segmentFileName(timeline, segment, options.walSegmentSize);
    // Without every one of these segments the backup cannot be restored: a missing one fails it.
    await copyFile(join(dataDirectory, 'pg_wal', name), `pg_wal/${name}`, true, (data) => check.push(data)).catch((error: unknown) => {
      throw new DrcError('BACKUP_FAILED', `unable to copy WAL segment ${name} of the backup: ${(error as Error).message}`, {
        hints: ['the backup needs every WAL segment from its start to its stop; check that pg_wal is readable and that nothing removes segments while a backup runs'],
        cause: error,
      });
    });
  }
  if (check.lastValidRecordEnd < stopLsn) {
    throw new DrcError('BACKUP_FAILED', `unable to use the WAL of the backup: it is valid up to ${formatLsn(check.lastValidRecordEnd)}, short of the backup's stop point ${formatLsn(stopLsn)}`, {
      hints: ['a segment in pg_wal was removed or rewritten while the backup ran; check what else manages pg_wal, then back up again'],
    });
  }
  await client.query('SELECT pg_drop_replication_slot($1)', [slot]);
  return { startLsn, stopLsn, timeline, bytesTotal, warnings };
}

/**
 * Every entry under `directory`, sorted by name (so bundles of small files come out the same
 * each time). Links are treated as BASE_BACKUP treats them, so that a backup read in place
 * restores exactly as a streamed one of the same cluster: pg_wal, which initdb --waldir makes
 * a link to another disk, is held as a directory (its segments come after pg_backup_stop);
 * a tablespace link in pg_tblspc is kept as a link; any other link, and any special file
 * (socket, FIFO, device), is skipped with a warning ("skipping special file"). Following
 * such a link instead would copy what lies outside the data directory into the backup, and
 * a restore would then write it inside the target as if it had always been there.
 */
async function walk(root: string, relative: string, sink: DataDirectorySink, copyFile: (path: string, relative: string) => Promise<void>, warnings: string[]): Promise<void> {
  const here = relative === '' ? root : join(root, relative);
  let names: string[];
  try {
    names = (await readdir(here)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const unlogged = new Set(names.flatMap((name) => /^(\d+)_init$/.exec(name)?.[1] ?? []));
  for (const name of names) {
    const path = join(here, name);
    const inside = relative === '' ? name : `${relative}/${name}`;
    if (skipped(relative, name, unlogged)) continue;
    const info = await lstat(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (!info) continue;
    // pg_wal may be a link to another disk (initdb -X); a backup holds it as a directory.
    if (info.isDirectory() || (relative === '' && name === 'pg_wal' && info.isSymbolicLink())) {
      await sink.onEntry(directoryEntry(inside, info.mode, info.mtimeMs));
      await sink.onEntryEnd(directoryEntry(inside, info.mode, info.mtimeMs));
      if (relative === '' && name === 'pg_wal') await walkWalDirectories(path, sink);
      else if (!(relative === '' && emptiedDirectories.has(name))) await walk(root, inside, sink, copyFile, warnings);
    } else if (info.isSymbolicLink() && relative === 'pg_tblspc') {
      const link: TarEntry = { path: inside, type: 'symlink', size: 0, mode: info.mode & 0o7777, mtime: wholeSeconds(info.mtimeMs), linkTarget: await readlink(path) };
      await sink.onEntry(link);
      await sink.onEntryEnd(link);
    } else if (info.isSymbolicLink()) {
      const target = await readlink(path).catch(() => 'an unreadable target');
      warnings.push(`skipped '${inside}', a link to '${target}': as PostgreSQL's own base backup does, only pg_wal and tablespace links are backed up; a restore will not have it, so keep what it points to backed up on its own (or move it into the data directory)`);
    } else if (info.isFile()) {
      await copyFile(path, inside);
    } else {
      warnings.push(`skipped '${inside}', a special file (socket, FIFO or device), as PostgreSQL's own base backup does`);
    }
  }
}

/** pg_wal's subdirectories (archive_status, and summaries on 17+), empty, as BASE_BACKUP sends them. */
async function walkWalDirectories(path: string, sink: DataDirectorySink): Promise<void> {
  for (const name of (await readdir(path)).sort()) {
    const info = await lstat(join(path, name)).catch(() => undefined);
    if (!info?.isDirectory()) continue;
    const entry = directoryEntry(`pg_wal/${name}`, info.mode, info.mtimeMs);
    await sink.onEntry(entry);
    await sink.onEntryEnd(entry);
  }
}

/** BASE_BACKUP's exclusions: temporary files and relations, relcache init files, and the non-init forks of unlogged relations. */
function skipped(relative: string, name: string, unlogged: ReadonlySet<string>): boolean {
  if (relative === '' && skippedTopLevelFiles.has(name)) return true;
  if (name.startsWith('pgsql_tmp') || name.startsWith('pg_internal.init')) return true;
  if (/^t\d+_\d+/.test(name)) return true;
  const relation = /^(\d+)(?:_(?:fsm|vm))?(?:\.\d+)?$/.exec(name)?.[1];
  return relation !== undefined && unlogged.has(relation);
}

async function addContent(sink: DataDirectorySink, path: string, content: Buffer): Promise<void> {
  const entry = fileEntry(path, content.length, 0o600, Date.now());
  await sink.onEntry(entry);
  let position = 0;
  await sink.readContent(content.length, (into) => {
    const copied = content.copy(into, 0, position);
    position += copied;
    return Promise.resolve(copied);
  });
  await sink.onEntryEnd(entry);
}

async function readFileStart(path: string, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    if (bytesRead < length) throw new Error(`${path} is shorter than ${String(length)} bytes`);
    return buffer;
  } finally {
    await handle.close();
  }
}

/** Whole seconds, as a tar header carries them: manifests from either way of backing up compare equal. */
function wholeSeconds(mtimeMs: number): Date {
  return new Date(Math.floor(mtimeMs / 1000) * 1000);
}

function fileEntry(path: string, size: number, mode: number, mtimeMs: number): TarEntry {
  return { path, type: 'file', size, mode: mode & 0o7777, mtime: wholeSeconds(mtimeMs), linkTarget: '' };
}

function directoryEntry(path: string, mode: number, mtimeMs: number): TarEntry {
  return { path, type: 'directory', size: 0, mode: mode & 0o7777, mtime: wholeSeconds(mtimeMs), linkTarget: '' };
}
