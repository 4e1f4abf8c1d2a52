import type { Lsn } from '../lsn.js';
import { RECORD_HEADER_SIZE } from './page.js';

/**
 * The records disaster recovery needs — commit and abort times, named restore points,
 * checkpoints, segment switches — recognized by resource manager and info bits, and
 * decoded from a whole record without decoding anything else.
 */

export type WalEventKind = 'commit' | 'abort' | 'restore-point' | 'checkpoint' | 'switch';

export interface WalEvent {
  readonly kind: WalEventKind;
  /** Where the record starts. */
  readonly lsn: Lsn;
  /**
   * Where the record ends, rounded up to 8 bytes: where the next record starts unless a
   * page header comes first. This is the LSN pg_create_restore_point() and
   * pg_switch_wal() return for their records.
   */
  readonly endLsn: Lsn;
  /**
   * commit/abort: the transaction (for COMMIT/ROLLBACK PREPARED, the prepared one, not
   * the session that finished it). Other kinds: the record's xl_xid, 0 outside a transaction.
   */
  readonly xid: number;
  /**
   * commit, abort, restore point, end of recovery: the server's timestamp (for commits,
   * the value pg_xact_commit_timestamp() shows), truncated to the millisecond.
   * Checkpoints: their time, which PostgreSQL keeps in whole seconds.
   */
  readonly time?: Date;
  /**
   * `time` exactly, in microseconds since 1970-01-01 UTC. Use it for recovery targets:
   * a target of the truncated `time` would stop just before the commit it names.
   */
  readonly timeMicros?: number;
  /** restore-point: the name given to pg_create_restore_point(). */
  readonly name?: string;
  /** checkpoint (including end of recovery): the timeline it was written on. */
  readonly timeline?: number;
}

/** What a record says, before the reader adds where it lies. */
export type RecordEvent = Omit<WalEvent, 'lsn' | 'endLsn'>;

export const RM_XLOG_ID = 0;
const RM_XACT_ID = 1;
/** RM_MAX_BUILTIN_ID in 15–18 (RM_LOGICALMSG_ID); ids from RM_MIN_CUSTOM_ID on belong to extensions. */
export const RM_MAX_BUILTIN_ID = 21;
export const RM_MIN_CUSTOM_ID = 128;

const XLOG_CHECKPOINT_SHUTDOWN = 0x00;
const XLOG_CHECKPOINT_ONLINE = 0x10;
export const XLOG_SWITCH = 0x40;
const XLOG_RESTORE_POINT = 0x70;
const XLOG_END_OF_RECOVERY = 0x90;
/** xl_info's low bits belong to the WAL machinery, the high ones to the resource manager. */
export const XLR_RMGR_INFO_MASK = 0xf0;

const XLOG_XACT_COMMIT = 0x00;
const XLOG_XACT_ABORT = 0x20;
const XLOG_XACT_COMMIT_PREPARED = 0x30;
const XLOG_XACT_ABORT_PREPARED = 0x40;
const XLOG_XACT_OPMASK = 0x70;
const XLOG_XACT_HAS_INFO = 0x80;

const XACT_XINFO_HAS_DBINFO = 1 << 0;
const XACT_XINFO_HAS_SUBXACTS = 1 << 1;
const XACT_XINFO_HAS_RELFILELOCATORS = 1 << 2;
const XACT_XINFO_HAS_INVALS = 1 << 3;
const XACT_XINFO_HAS_TWOPHASE = 1 << 4;
const XACT_XINFO_HAS_DROPPED_STATS = 1 << 8;
/** sizeof(RelFileLocator), sizeof(SharedInvalidationMessage). */
const RELFILELOCATOR_SIZE = 12;
const INVALIDATION_MESSAGE_SIZE = 16;

const XLR_MAX_BLOCK_ID = 32;
const XLR_BLOCK_ID_DATA_SHORT = 255;
const XLR_BLOCK_ID_DATA_LONG = 254;
const XLR_BLOCK_ID_ORIGIN = 253;
const XLR_BLOCK_ID_TOPLEVEL_XID = 252;
const BKPBLOCK_HAS_IMAGE = 0x10;
const BKPBLOCK_HAS_DATA = 0x20;
const BKPBLOCK_SAME_REL = 0x80;
const BKPIMAGE_HAS_HOLE = 0x01;
/** BKPIMAGE_COMPRESS_PGLZ | _LZ4 | _ZSTD (the 15+ bit layout). */
const BKPIMAGE_COMPRESSED = 0x04 | 0x08 | 0x10;

/** Microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's TimestampTz epoch. */
const POSTGRES_EPOCH_MICROS = 946_684_800_000_000;
export const TWO_32 = 4294967296;

/** Whether a record (by xl_rmid and xl_info) is one that yields an event; only these are decoded. */
export function hasEvent(rmid: number, info: number): boolean {
  if (rmid === RM_XACT_ID) {
    const op = info & XLOG_XACT_OPMASK;
    return op === XLOG_XACT_COMMIT || op === XLOG_XACT_COMMIT_PREPARED || op === XLOG_XACT_ABORT || op === XLOG_XACT_ABORT_PREPARED;
  }
  if (rmid !== RM_XLOG_ID) return false;
  const op = info & XLR_RMGR_INFO_MASK;
  return op === XLOG_SWITCH || op === XLOG_RESTORE_POINT || op === XLOG_CHECKPOINT_SHUTDOWN || op === XLOG_CHECKPOINT_ONLINE || op === XLOG_END_OF_RECOVERY;
}

/**
 * The event of a whole, CRC-valid record that `hasEvent` picked, at buf[start…]: null if
 * its data is malformed. `statsItemSize` is sizeof(xl_xact_stats_item) of the server's major.
 */
export function decodeEvent(buf: Buffer, start: number, statsItemSize: number): RecordEvent | null {
  const totalLength = u32(buf, start);
  const info = buf[start + 16] as number;
  const xid = buf.readUInt32LE(start + 4);

  if ((buf[start + 17] as number) === RM_XACT_ID) {
    const op = info & XLOG_XACT_OPMASK;
    const commit = op === XLOG_XACT_COMMIT || op === XLOG_XACT_COMMIT_PREPARED;
    const length = mainDataLength(buf, start, totalLength);
    if (length < 8) return null;
    const main = start + totalLength - length;
    const preparedXid = (info & XLOG_XACT_HAS_INFO) === 0 ? undefined : twoPhaseXid(buf, main, main + length, commit, statsItemSize);
    if (preparedXid === null) return null;
    const micros = readTimestampMicros(buf, main);
    return { kind: commit ? 'commit' : 'abort', xid: preparedXid ?? xid, time: microsToDate(micros), timeMicros: micros };
  }

  switch (info & XLR_RMGR_INFO_MASK) {
    case XLOG_SWITCH:
      return { kind: 'switch', xid };
    case XLOG_RESTORE_POINT: {
      // xl_restore_point: TimestampTz rp_time; char rp_name[MAXFNAMELEN = 64]
      const length = mainDataLength(buf, start, totalLength);
      if (length < 8 + 64) return null;
      const main = start + totalLength - length;
      const name = buf.subarray(main + 8, main + 72);
      const nul = name.indexOf(0);
      const micros = readTimestampMicros(buf, main);
      return { kind: 'restore-point', xid, name: name.toString('utf8', 0, nul === -1 ? name.length : nul), time: microsToDate(micros), timeMicros: micros };
    }
    case XLOG_CHECKPOINT_SHUTDOWN:
    case XLOG_CHECKPOINT_ONLINE: {
      // CheckPoint: ThisTimeLineID at 8; pg_time_t time (seconds since 1970) at 64 in 15–18.
      const length = mainDataLength(buf, start, totalLength);
      if (length < 72) return null;
      const main = start + totalLength - length;
      const seconds = Number(buf.readBigInt64LE(main + 64));
      return { kind: 'checkpoint', xid, timeline: buf.readUInt32LE(main + 8), time: new Date(seconds * 1000), timeMicros: seconds * 1_000_000 };
    }
    default: {
      // XLOG_END_OF_RECOVERY, the last kind hasEvent lets through. xl_end_of_recovery: TimestampTz end_time; TimeLineID ThisTimeLineID; …
      const length = mainDataLength(buf, start, totalLength);
      if (length < 12) return null;
      const main = start + totalLength - length;
      const micros = readTimestampMicros(buf, main);
      return { kind: 'checkpoint', xid, timeline: buf.readUInt32LE(main + 8), time: microsToDate(micros), timeMicros: micros };
    }
  }
}

/**
 * The prepared transaction's xid from a commit/abort record's xinfo parts (ParseCommitRecord,
 * ParseAbortRecord): undefined when there is none, null when the parts overrun the data.
 */
function twoPhaseXid(buf: Buffer, main: number, end: number, commit: boolean, statsItemSize: number): number | undefined | null {
  // xl_xact_commit/abort: TimestampTz xact_time, then (with XLOG_XACT_HAS_INFO) uint32 xinfo and the parts it announces, unpadded.
  if (main + 12 > end) return null;
  const xinfo = buf.readUInt32LE(main + 8);
  if ((xinfo & XACT_XINFO_HAS_TWOPHASE) === 0) return undefined;
  let p = main + 12;
  if ((xinfo & XACT_XINFO_HAS_DBINFO) !== 0) p += 8;
  const arrays: Array<[number, number]> = [
    [XACT_XINFO_HAS_SUBXACTS, 4],
    [XACT_XINFO_HAS_RELFILELOCATORS, RELFILELOCATOR_SIZE],
    [XACT_XINFO_HAS_DROPPED_STATS, statsItemSize],
    [commit ? XACT_XINFO_HAS_INVALS : 0, INVALIDATION_MESSAGE_SIZE],
  ];
  for (const [flag, itemSize] of arrays) {
    if ((xinfo & flag) === 0) continue;
    if (p + 4 > end) return null;
    const count = buf.readInt32LE(p);
    if (count < 0) return null;
    p += 4 + count * itemSize;
  }
  if (p + 4 > end) return null;
  return buf.readUInt32LE(p);
}

/**
 * Length of a record's main data (DecodeXLogRecord's header walk, without keeping
 * anything): the block headers and their sizes lead to it, and it is the record's last
 * bytes. -1 when the headers do not add up to the record's length.
 */
function mainDataLength(buf: Buffer, start: number, totalLength: number): number {
  const end = start + totalLength;
  let p = start + RECORD_HEADER_SIZE;
  let dataTotal = 0;
  let mainLength = 0;
  while (end - p > dataTotal) {
    const id = buf[p++] as number;
    if (id === XLR_BLOCK_ID_DATA_SHORT) {
      if (p + 1 > end) return -1;
      mainLength = buf[p++] as number;
      dataTotal += mainLength;
      break;
    }
    if (id === XLR_BLOCK_ID_DATA_LONG) {
      if (p + 4 > end) return -1;
      mainLength = buf.readUInt32LE(p);
      p += 4;
      dataTotal += mainLength;
      break;
    }
    if (id === XLR_BLOCK_ID_ORIGIN) {
      p += 2;
      continue;
    }
    if (id === XLR_BLOCK_ID_TOPLEVEL_XID) {
      p += 4;
      continue;
    }
    if (id > XLR_MAX_BLOCK_ID || p + 3 > end) return -1;
    // XLogRecordBlockHeader: id, fork_flags, data_length u16
    const forkFlags = buf[p] as number;
    const dataLength = buf.readUInt16LE(p + 1);
    p += 3;
    if (((forkFlags & BKPBLOCK_HAS_DATA) !== 0) !== (dataLength > 0)) return -1;
    dataTotal += dataLength;
    if ((forkFlags & BKPBLOCK_HAS_IMAGE) !== 0) {
      // XLogRecordBlockImageHeader: length u16, hole_offset u16, bimg_info u8; a compressed image with a hole adds hole_length u16.
      if (p + 5 > end) return -1;
      dataTotal += buf.readUInt16LE(p);
      const imageInfo = buf[p + 4] as number;
      p += 5;
      if ((imageInfo & BKPIMAGE_HAS_HOLE) !== 0 && (imageInfo & BKPIMAGE_COMPRESSED) !== 0) p += 2;
    }
    if ((forkFlags & BKPBLOCK_SAME_REL) === 0) p += RELFILELOCATOR_SIZE;
    p += 4; // BlockNumber
  }
  return end - p === dataTotal ? mainLength : -1;
}

/**
 * A little-endian uint32 for the per-record path: Buffer#readUInt32LE validates its
 * argument on every call, which shows in profiles at a million records a second.
 */
export function u32(buf: Buffer, at: number): number {
  return ((buf[at] as number) | ((buf[at + 1] as number) << 8) | ((buf[at + 2] as number) << 16) | ((buf[at + 3] as number) << 24)) >>> 0;
}

/** A TimestampTz (int64 µs since 2000-01-01) as µs since 1970; exact as a number until the year 2255. */
function readTimestampMicros(buf: Buffer, at: number): number {
  return buf.readInt32LE(at + 4) * TWO_32 + buf.readUInt32LE(at) + POSTGRES_EPOCH_MICROS;
}

const microsToDate = (micros: number): Date => new Date(Math.floor(micros / 1000));
