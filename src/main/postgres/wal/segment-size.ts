import { DrcError } from '../../../shared/errors.js';
import { LONG_PAGE_HEADER_SIZE, WAL_PAGE_MAGIC_MAJOR, WAL_PAGE_SIZE, XLP_LONG_HEADER } from './page.js';

/**
 * The WAL segment size is a property of the cluster (initdb --wal-segsize), never of the
 * console. What knows it, best first: the server (SHOW wal_segment_size, see
 * `ReplicationConnection.walSegmentSizeBytes`), a segment file's own first page header,
 * a backup's record (`walSegmentSize`), a repository's WAL index. This module holds the
 * rules every one of those answers must satisfy; `engines/wal/segment-size.ts` picks the
 * answer for a repository set.
 */

/**
 * initdb's default. Only for an archive that has nothing to tell: no backup, no indexed
 * WAL. Every such archive is empty, so no segment is ever numbered with a wrong size.
 */
export const INITDB_DEFAULT_WAL_SEGMENT_SIZE = 16 * 1024 * 1024;

/** PostgreSQL's rule for wal_segment_size: a power of two from 1 MiB to 1 GiB. */
export function isWalSegmentSize(bytes: number): boolean {
  return Number.isInteger(bytes) && bytes >= 1 << 20 && bytes <= 1 << 30 && (bytes & (bytes - 1)) === 0;
}

export function requireWalSegmentSize(bytes: number, what: string): number {
  if (!isWalSegmentSize(bytes)) {
    throw new DrcError('USAGE', `unable to read ${what} with WAL segment size ${String(bytes)}: PostgreSQL segments are a power of two from 1 MiB to 1 GiB`, {
      hints: ['the segment size comes from the server (SHOW wal_segment_size) or from the backup; check which cluster this WAL belongs to'],
    });
  }
  return bytes;
}

/**
 * The segment size a WAL segment file says it was written with: XLogLongPageHeaderData's
 * xlp_seg_size on its first page. Undefined when the first page is not a PostgreSQL 15–18
 * long page header (zeroes, a history file, a damaged file).
 */
export function segmentSizeInHeader(segmentFile: Buffer): number | undefined {
  if (segmentFile.length < LONG_PAGE_HEADER_SIZE) return undefined;
  const magic = segmentFile.readUInt16LE(0);
  const info = segmentFile.readUInt16LE(2);
  if (!WAL_PAGE_MAGIC_MAJOR.has(magic) || (info & XLP_LONG_HEADER) === 0 || segmentFile.readUInt32LE(36) !== WAL_PAGE_SIZE) return undefined;
  const size = segmentFile.readUInt32LE(32);
  return isWalSegmentSize(size) ? size : undefined;
}
