import { DrcError } from '../../../shared/errors.js';
import { formatLsn, parseLsn, type Lsn } from '../lsn.js';
import {
  CRC32C_INIT,
  LONG_PAGE_HEADER_SIZE,
  MAX_RECORD_SIZE,
  RECORD_CRC_OFFSET,
  RECORD_HEADER_SIZE,
  SHORT_PAGE_HEADER_SIZE,
  WAL_PAGE_MAGIC_MAJOR,
  WAL_PAGE_SIZE,
  XLP_ALL_FLAGS,
  XLP_FIRST_IS_CONTRECORD,
  XLP_FIRST_IS_OVERWRITE_CONTRECORD,
  XLP_LONG_HEADER,
  crc32cFinish,
  crc32cUpdate,
  maxAlign,
} from './page.js';

/**
 * A WAL reader that finds what disaster recovery needs — commit and abort times, named
 * restore points, checkpoints, segment switches — and where valid WAL ends, without
 * decoding anything else. It validates what PostgreSQL's own xlogreader validates (page
 * magic and address, continuation lengths, the record header and its xl_prev link, the
 * record's CRC-32C), so a torn, recycled or corrupted tail ends the WAL instead of
 * producing events.
 *
 * It is incremental: feed it the WAL as it comes (a replication stream, or segment files
 * one after another) in pieces of any size. Positions are kept as numbers (segment
 * number and offset, or the two 32-bit halves of an LSN) so the per-record path does no
 * bigint arithmetic; bigints are built only for the events returned.
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

/**
 * What a reader needs to go on with the next piece of WAL in another process or later:
 * plain JSON (LSNs as PostgreSQL prints them, bytes as base64). It holds at most one
 * partial record, the one that straddles the end of the data read so far.
 */
export interface ReaderCarry {
  readonly segmentSize: number;
  readonly nextLsn: string;
  readonly lastValidRecordEnd: string;
  readonly phase: 'record' | 'continuation' | 'switch-padding' | 'ended';
  /** Bytes still to skip: alignment padding (record) or a record continued from before the start (continuation). */
  readonly skip: number;
  /** Start of the last valid record, which the next record's xl_prev must name. */
  readonly previousRecord?: string;
  readonly magic?: number;
  readonly systemId?: string;
  readonly timeline: number;
  /** The bytes of a page header read so far, when the data stopped inside one (base64). */
  readonly pageHeader?: string;
  /**
   * The record under way when the data stopped: its start and its bytes so far (base64).
   * For a record whose contents no event needs, only its header is kept, with the number
   * of bytes read and the running CRC of those after the header.
   */
  readonly partialRecord?: { readonly lsn: string; readonly bytes: string; readonly read?: number; readonly crc?: number };
}

export interface WalReaderOptions {
  /** The server's wal_segment_size. */
  readonly segmentSize: number;
  /**
   * Where the first byte pushed belongs. Either the start of a page (a segment boundary
   * is one): a record continued from the previous page is skipped and reading begins
   * with the first record that starts on it; or the start of a record.
   */
  readonly startLsn: Lsn;
}

type Phase = 'record' | 'body' | 'continuation' | 'switch-padding' | 'ended';

const RM_XLOG_ID = 0;
const RM_XACT_ID = 1;
/** RM_MAX_BUILTIN_ID in 15–18 (RM_LOGICALMSG_ID); ids from RM_MIN_CUSTOM_ID on belong to extensions. */
const RM_MAX_BUILTIN_ID = 21;
const RM_MIN_CUSTOM_ID = 128;

const XLOG_CHECKPOINT_SHUTDOWN = 0x00;
const XLOG_CHECKPOINT_ONLINE = 0x10;
const XLOG_SWITCH = 0x40;
const XLOG_RESTORE_POINT = 0x70;
const XLOG_END_OF_RECOVERY = 0x90;
/** xl_info's low bits belong to the WAL machinery, the high ones to the resource manager. */
const XLR_RMGR_INFO_MASK = 0xf0;

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
const TWO_32 = 4294967296;
/** Records up to this size are assembled in a buffer the reader keeps; bigger ones get their own. */
const MAX_KEPT_ASSEMBLY = 1024 * 1024;

/**
 * Reads WAL pushed in order, in pieces of any size, and returns the events of the records
 * each piece completes. Reuse one reader across segments, or hand over with `carry()` and
 * `WalReader.resume()`.
 *
 * It throws (DrcError) only for WAL that cannot belong to the configured server: a page
 * magic that is not PostgreSQL 15–18 at the start, a segment or page size other than the
 * one configured, or pages from another cluster (system identifier). Everything else
 * that is not valid WAL — zeroes, a recycled segment's old pages, a torn or corrupted
 * record — is the end of valid WAL: `ended` turns true and later data is ignored.
 */
export class WalReader {
  private readonly segmentSize: number;
  private readonly segmentsPerXLogId: number;
  private readonly segmentSizeBig: bigint;

  /** Position of the next byte to push: segment number and offset in it. */
  private segNo = 0;
  private off = 0;
  /** The current segment's start as LSN halves, so a position's halves are (segHi, segLo + off). */
  private segHi = 0;
  private segLo = 0;

  private phase: Phase = 'record';
  /** Bytes to skip: padding after a record (phase record) or a continuation (phase continuation). */
  private skip = 0;
  private readonly pageHeader = Buffer.alloc(LONG_PAGE_HEADER_SIZE);
  /** Header of a record that did not fit where it started (phase record, headerGot > 0). */
  private readonly recordHeader = Buffer.alloc(RECORD_HEADER_SIZE);
  private headerGot = 0;
  /**
   * A record that spans pages or pieces (phase body), recordGot of its recordLength bytes
   * read. If an event needs its contents (`assembling`), they are gathered in `record`:
   * the reused `assembly` buffer unless the record is too big to keep a buffer of its size
   * around. Otherwise its header stays in recordHeader and the rest only passes through
   * `crc`, so full-page images and huge records are never copied.
   */
  private assembling = false;
  private assembly = Buffer.allocUnsafe(64 * 1024);
  private record = this.assembly;
  private recordLength = 0;
  private recordGot = 0;
  private crc = CRC32C_INIT;
  private recordHi = 0;
  private recordLo = 0;

  private prevKnown = false;
  private prevHi = 0;
  private prevLo = 0;
  private endHi = 0;
  private endLo = 0;

  private magic: number | undefined;
  private systemId: bigint | undefined;
  private timeline = 0;
  /** sizeof(xl_xact_stats_item): 12 bytes until 17, 16 since 18's 64-bit object ids. */
  private statsItemSize = 12;

  constructor(options: WalReaderOptions) {
    const { segmentSize, startLsn } = options;
    if (!Number.isInteger(segmentSize) || segmentSize < 1 << 20 || segmentSize > 1 << 30 || (segmentSize & (segmentSize - 1)) !== 0) {
      throw new DrcError('USAGE', `unable to read WAL with segment size ${String(segmentSize)}: PostgreSQL segments are a power of two from 1 MiB to 1 GiB`);
    }
    if (startLsn < 0n || startLsn % 8n !== 0n) {
      throw new DrcError('USAGE', `unable to read WAL from '${formatLsn(startLsn)}': reading starts at a page or a record, which are 8-byte aligned`);
    }
    this.segmentSize = segmentSize;
    this.segmentSizeBig = BigInt(segmentSize);
    this.segmentsPerXLogId = TWO_32 / segmentSize;
    this.moveTo(startLsn);
    this.phase = this.off % WAL_PAGE_SIZE === 0 ? 'continuation' : 'record';
    this.endHi = this.segHi;
    this.endLo = this.segLo + this.off;
  }

  /** A reader that goes on where the one that produced `carry` stopped. */
  static resume(carry: ReaderCarry): WalReader {
    const reader = new WalReader({ segmentSize: carry.segmentSize, startLsn: 0n });
    reader.restore(carry);
    return reader;
  }

  /** Where the next push must start. */
  get nextLsn(): Lsn {
    return this.lsnOf(this.segHi, this.segLo + this.off);
  }

  /** End (8-byte aligned) of the last complete, CRC-valid record; the start position until one is seen. */
  get lastValidRecordEnd(): Lsn {
    return this.lsnOf(this.endHi, this.endLo);
  }

  /** True once invalid data (zeroes, an old page, a bad CRC…) showed where valid WAL ends. */
  get ended(): boolean {
    return this.phase === 'ended';
  }

  /** The server's major version, from the page magic, once a page header has been read. */
  get major(): number | undefined {
    return this.magic === undefined ? undefined : WAL_PAGE_MAGIC_MAJOR.get(this.magic);
  }

  /** Feed bytes that start exactly at `nextLsn`; returns the events of the records completed by this data. */
  push(data: Buffer): WalEvent[] {
    const events: WalEvent[] = [];
    const n = data.length;
    let i = 0;
    while (i < n) {
      const phase = this.phase;
      if (phase === 'ended') {
        this.advance(n - i);
        break;
      }
      if (phase === 'switch-padding') {
        // After XLOG_SWITCH the rest of the segment is empty pages; the next record starts the next segment.
        const take = Math.min(n - i, this.segmentSize - this.off);
        i += take;
        this.advance(take);
        if (this.off === 0) this.phase = 'record';
        continue;
      }

      const pageOff = this.off % WAL_PAGE_SIZE;
      const headerSize = this.off < WAL_PAGE_SIZE ? LONG_PAGE_HEADER_SIZE : SHORT_PAGE_HEADER_SIZE;
      if (pageOff < headerSize) {
        const take = Math.min(n - i, headerSize - pageOff);
        copySmall(data, i, take, this.pageHeader, pageOff);
        i += take;
        this.advance(take);
        if (pageOff + take === headerSize) this.acceptPageHeader(headerSize);
        continue;
      }

      const limit = Math.min(n, i + WAL_PAGE_SIZE - pageOff);
      if (phase === 'continuation') {
        const take = Math.min(limit - i, this.skip);
        i += take;
        this.advance(take);
        this.skip -= take;
        if (this.skip === 0) this.phase = 'record';
        continue;
      }
      if (phase === 'body') {
        const take = Math.min(limit - i, this.recordLength - this.recordGot);
        if (this.assembling) data.copy(this.record, this.recordGot, i, i + take);
        else this.crc = crc32cUpdate(data, i, i + take, this.crc);
        i += take;
        this.advance(take);
        this.recordGot += take;
        if (this.recordGot === this.recordLength) this.finishBody(events);
        continue;
      }

      if (this.skip > 0) {
        const take = Math.min(limit - i, this.skip);
        i += take;
        this.advance(take);
        this.skip -= take;
        continue;
      }
      if (this.headerGot === 0) {
        i = this.scanWholeRecords(data, i, limit, events);
        if (this.phase !== 'record' || this.skip > 0 || i === limit) continue;
        // The next record runs past this page or this piece: assemble it.
        this.recordHi = this.segHi;
        this.recordLo = this.segLo + this.off;
      }
      const take = Math.min(limit - i, RECORD_HEADER_SIZE - this.headerGot);
      copySmall(data, i, take, this.recordHeader, this.headerGot);
      i += take;
      this.advance(take);
      this.headerGot += take;
      // xl_tot_len comes first, so a zeroed tail is recognized before the rest of the header arrives.
      if (this.headerGot >= 4 && u32(this.recordHeader, 0) < RECORD_HEADER_SIZE) this.end();
      else if (this.headerGot === RECORD_HEADER_SIZE) this.startBody(events);
    }
    return events;
  }

  /** State to continue from in another reader (`WalReader.resume`); plain JSON. */
  carry(): ReaderCarry {
    let partialRecord: ReaderCarry['partialRecord'];
    const recordLsn = (): string => formatLsn(this.lsnOf(this.recordHi, this.recordLo));
    if (this.phase === 'body' && this.assembling) {
      partialRecord = { lsn: recordLsn(), bytes: this.record.subarray(0, this.recordGot).toString('base64') };
    } else if (this.phase === 'body') {
      partialRecord = { lsn: recordLsn(), bytes: this.recordHeader.toString('base64'), read: this.recordGot, crc: this.crc };
    } else if (this.phase === 'record' && this.headerGot > 0) {
      partialRecord = { lsn: recordLsn(), bytes: this.recordHeader.subarray(0, this.headerGot).toString('base64') };
    }
    const pageOff = this.off % WAL_PAGE_SIZE;
    const inPageHeader = pageOff > 0 && pageOff < (this.off < WAL_PAGE_SIZE ? LONG_PAGE_HEADER_SIZE : SHORT_PAGE_HEADER_SIZE);
    return {
      segmentSize: this.segmentSize,
      nextLsn: formatLsn(this.nextLsn),
      lastValidRecordEnd: formatLsn(this.lastValidRecordEnd),
      phase: this.phase === 'body' ? 'record' : this.phase,
      skip: this.skip,
      ...(this.prevKnown ? { previousRecord: formatLsn(this.lsnOf(this.prevHi, this.prevLo)) } : {}),
      ...(this.magic === undefined ? {} : { magic: this.magic }),
      ...(this.systemId === undefined ? {} : { systemId: this.systemId.toString() }),
      timeline: this.timeline,
      ...(inPageHeader && this.phase !== 'ended' && this.phase !== 'switch-padding' ? { pageHeader: this.pageHeader.subarray(0, pageOff).toString('base64') } : {}),
      ...(partialRecord === undefined ? {} : { partialRecord }),
    };
  }

  private restore(carry: ReaderCarry): void {
    this.moveTo(parseLsn(carry.nextLsn));
    const end = lsnToHalves(parseLsn(carry.lastValidRecordEnd));
    this.endHi = end.hi;
    this.endLo = end.lo;
    this.phase = carry.phase;
    this.skip = carry.skip;
    if (carry.previousRecord !== undefined) {
      const prev = lsnToHalves(parseLsn(carry.previousRecord));
      this.prevKnown = true;
      this.prevHi = prev.hi;
      this.prevLo = prev.lo;
    }
    if (carry.magic !== undefined) this.acceptMagic(carry.magic);
    if (carry.systemId !== undefined) this.systemId = BigInt(carry.systemId);
    this.timeline = carry.timeline;
    if (carry.pageHeader !== undefined) Buffer.from(carry.pageHeader, 'base64').copy(this.pageHeader);
    if (carry.partialRecord !== undefined) {
      const start = lsnToHalves(parseLsn(carry.partialRecord.lsn));
      this.recordHi = start.hi;
      this.recordLo = start.lo;
      const { read, crc } = carry.partialRecord;
      const bytes = Buffer.from(carry.partialRecord.bytes, 'base64');
      if (read !== undefined && crc !== undefined) {
        bytes.copy(this.recordHeader);
        this.assembling = false;
        this.recordLength = u32(bytes, 0);
        this.recordGot = read;
        this.crc = crc;
        this.phase = 'body';
      } else if (bytes.length < RECORD_HEADER_SIZE) {
        bytes.copy(this.recordHeader);
        this.headerGot = bytes.length;
      } else {
        this.assembling = true;
        this.prepareRecord(u32(bytes, 0));
        bytes.copy(this.record);
        this.recordGot = bytes.length;
        this.phase = 'body';
      }
    }
  }

  private moveTo(lsn: Lsn): void {
    this.segNo = Number(lsn / this.segmentSizeBig);
    this.off = Number(lsn % this.segmentSizeBig);
    this.enterSegment();
  }

  private enterSegment(): void {
    this.segHi = Math.floor(this.segNo / this.segmentsPerXLogId);
    this.segLo = (this.segNo % this.segmentsPerXLogId) * this.segmentSize;
  }

  private advance(bytes: number): void {
    this.off += bytes;
    if (this.off >= this.segmentSize) {
      const segments = Math.floor(this.off / this.segmentSize);
      this.segNo += segments;
      this.off -= segments * this.segmentSize;
      this.enterSegment();
    }
  }

  private end(): void {
    this.phase = 'ended';
    this.skip = 0;
    this.headerGot = 0;
    this.record = this.assembly;
  }

  private acceptMagic(magic: number): void {
    this.magic = magic;
    this.statsItemSize = (WAL_PAGE_MAGIC_MAJOR.get(magic) ?? 0) >= 18 ? 16 : 12;
  }

  /** Checks a page header like XLogReaderValidatePageHeader, then reconciles its continuation with what is being read. */
  private acceptPageHeader(size: number): void {
    const header = this.pageHeader;
    const magic = header.readUInt16LE(0);
    const info = header.readUInt16LE(2);
    const timeline = header.readUInt32LE(4);
    const pageLo = this.segLo + this.off - size;
    const where = (): string => formatLsn(this.lsnOf(this.segHi, pageLo));

    if (magic !== this.magic) {
      if (this.magic !== undefined || magic === 0) return this.end();
      if (!WAL_PAGE_MAGIC_MAJOR.has(magic)) {
        throw new DrcError('PG_SERVER_UNSUPPORTED', `unable to read WAL at '${where()}': page magic 0x${magic.toString(16).toUpperCase()} is not from PostgreSQL 15, 16, 17 or 18`, {
          hints: ['DR Console reads WAL of PostgreSQL 15 to 18; upgrade the server or use a DR Console release that knows its WAL format'],
        });
      }
    }
    // A page from a recycled segment still carries its old address: that is the end of valid WAL, as is a timeline going back.
    if ((info & ~XLP_ALL_FLAGS) !== 0 || header.readUInt32LE(8) !== pageLo || header.readUInt32LE(12) !== this.segHi || timeline < this.timeline) return this.end();
    const longHeader = (info & XLP_LONG_HEADER) !== 0;
    if (longHeader !== (size === LONG_PAGE_HEADER_SIZE) || (longHeader && (header.readUInt32LE(32) !== this.segmentSize || header.readUInt32LE(36) !== WAL_PAGE_SIZE))) {
      const actual = longHeader ? `${String(header.readUInt32LE(32))}-byte segments of ${String(header.readUInt32LE(36))}-byte pages` : 'a different segment size';
      throw new DrcError('WAL_INVALID', `unable to read WAL at '${where()}': it was written with ${actual}, not ${String(this.segmentSize)}-byte segments of ${String(WAL_PAGE_SIZE)}-byte pages`, {
        hints: ["configure the repository with the server's wal_segment_size (SHOW wal_segment_size)"],
      });
    }
    if (longHeader) {
      const systemId = header.readBigUInt64LE(24);
      if (this.systemId !== undefined && systemId !== this.systemId) {
        throw new DrcError('WAL_INVALID', `unable to read WAL at '${where()}': it belongs to database system ${systemId.toString()}, not ${this.systemId.toString()}`, {
          hints: ['WAL from two clusters was mixed up: check which server feeds this repository'],
        });
      }
      this.systemId = systemId;
    }
    if (this.magic === undefined) this.acceptMagic(magic);
    this.timeline = timeline;

    const continued = (info & XLP_FIRST_IS_CONTRECORD) !== 0;
    const remaining = header.readUInt32LE(16);
    if (this.phase === 'continuation') {
      // Still skipping the record that began before the start; each page says how much of it is left.
      if (continued) this.skip = maxAlign(remaining);
      else this.phase = 'record';
      return;
    }
    const midRecord = this.phase === 'body' || this.headerGot > 0;
    if (!midRecord) {
      if (continued) this.end();
      return;
    }
    if (continued) {
      const total = this.phase === 'body' ? this.recordLength : u32(this.recordHeader, 0);
      const got = this.phase === 'body' ? this.recordGot : this.headerGot;
      if (remaining === 0 || remaining !== total - got) this.end();
    } else if ((info & XLP_FIRST_IS_OVERWRITE_CONTRECORD) !== 0) {
      // Crash recovery gave up on this torn record and wrote XLOG_OVERWRITE_CONTRECORD here: read on from this page.
      // xl_prev of that record names the record before the torn one, which is still the one remembered.
      this.phase = 'record';
      this.headerGot = 0;
      this.record = this.assembly;
    } else {
      this.end();
    }
  }

  /** Checks a record header like ValidXLogRecordHeader. */
  private validHeader(buf: Buffer, start: number, hi: number, lo: number): boolean {
    const totalLength = u32(buf, start);
    if (totalLength < RECORD_HEADER_SIZE || totalLength > MAX_RECORD_SIZE) return false;
    const rmid = buf[start + 17] as number;
    if (rmid > RM_MAX_BUILTIN_ID && rmid < RM_MIN_CUSTOM_ID) return false;
    const prevLo = u32(buf, start + 8);
    const prevHi = u32(buf, start + 12);
    if (this.prevKnown) return prevLo === this.prevLo && prevHi === this.prevHi;
    // Without the previous record (reading began here) the link can only be checked to point backwards.
    return prevHi < hi || (prevHi === hi && prevLo < lo);
  }

  /** The common case: records lying whole in buf[i, limit), checked in place without copying. Returns where it stopped. */
  private scanWholeRecords(buf: Buffer, i: number, limit: number, events: WalEvent[]): number {
    let p = i;
    while (limit - p >= RECORD_HEADER_SIZE) {
      const totalLength = u32(buf, p);
      if (totalLength > limit - p) break;
      const hi = this.segHi;
      const lo = this.segLo + this.off;
      if (!this.validHeader(buf, p, hi, lo)) {
        this.end();
        return p;
      }
      p += totalLength;
      this.advance(totalLength);
      this.finishRecord(buf, p - totalLength, hi, lo, events);
      if (this.phase !== 'record') return p;
      if (this.skip > 0) {
        if (limit - p < this.skip) return p;
        p += this.skip;
        this.advance(this.skip);
        this.skip = 0;
      }
    }
    return p;
  }

  /** The header of a record that spans pages or pieces is complete: check it and get ready for the rest. */
  private startBody(events: WalEvent[]): void {
    this.headerGot = 0;
    const header = this.recordHeader;
    if (!this.validHeader(header, 0, this.recordHi, this.recordLo)) return this.end();
    const length = u32(header, 0);
    this.assembling = hasEvent(header[17] as number, header[16] as number);
    if (this.assembling) {
      this.prepareRecord(length);
      copySmall(header, 0, RECORD_HEADER_SIZE, this.record, 0);
    } else {
      this.recordLength = length;
      this.crc = CRC32C_INIT;
    }
    this.recordGot = RECORD_HEADER_SIZE;
    if (length === RECORD_HEADER_SIZE) this.finishBody(events);
    else this.phase = 'body';
  }

  /** The last byte of a spanning record has been read. */
  private finishBody(events: WalEvent[]): void {
    if (this.assembling) return this.finishRecord(this.record, 0, this.recordHi, this.recordLo, events);
    const header = this.recordHeader;
    if (crc32cFinish(crc32cUpdate(header, 0, RECORD_CRC_OFFSET, this.crc)) !== u32(header, RECORD_CRC_OFFSET)) return this.end();
    this.accept(header, 0, this.recordHi, this.recordLo, events);
  }

  /** Room for a record of `length` bytes. Full-page images make most records span pages, so the buffer is reused. */
  private prepareRecord(length: number): void {
    if (length > this.assembly.length && length <= MAX_KEPT_ASSEMBLY) {
      this.assembly = Buffer.allocUnsafe(Math.min(MAX_KEPT_ASSEMBLY, Math.max(length, this.assembly.length * 2)));
    }
    this.record = length <= this.assembly.length ? this.assembly : Buffer.allocUnsafe(length);
    this.recordLength = length;
  }

  /**
   * buf[start, start + xl_tot_len) is a whole record starting at LSN (hi, lo), and the
   * reader stands just after its last byte. Verifies its CRC and accepts it.
   */
  private finishRecord(buf: Buffer, start: number, hi: number, lo: number, events: WalEvent[]): void {
    this.record = this.assembly;
    // ValidXLogRecord: the CRC covers the data after the header, then the header up to xl_crc.
    const crc = crc32cUpdate(buf, start, start + RECORD_CRC_OFFSET, crc32cUpdate(buf, start + RECORD_HEADER_SIZE, start + u32(buf, start), CRC32C_INIT));
    if (crc32cFinish(crc) !== u32(buf, start + RECORD_CRC_OFFSET)) return this.end();
    this.accept(buf, start, hi, lo, events);
  }

  /**
   * A CRC-valid record starting at LSN (hi, lo) ends where the reader stands: report its
   * event and move on. buf[start…] holds the whole record if it has an event, else at least its header.
   */
  private accept(buf: Buffer, start: number, hi: number, lo: number, events: WalEvent[]): void {
    const pad = (8 - (this.off & 7)) & 7;
    const endHi = this.segHi;
    const endLo = this.segLo + this.off + pad;
    const rmid = buf[start + 17] as number;
    if (hasEvent(rmid, buf[start + 16] as number)) {
      const event = this.describe(buf, start, u32(buf, start), hi, lo, endHi, endLo);
      // A record whose CRC holds but whose layout does not is as invalid to PostgreSQL as a torn one.
      if (event === null) return this.end();
      events.push(event);
    }
    this.prevKnown = true;
    this.prevHi = hi;
    this.prevLo = lo;
    this.endHi = endHi;
    this.endLo = endLo;
    this.phase = 'record';
    this.skip = pad;
    if (rmid === RM_XLOG_ID && ((buf[start + 16] as number) & XLR_RMGR_INFO_MASK) === XLOG_SWITCH && this.off !== 0) {
      this.phase = 'switch-padding';
      this.skip = 0;
    }
  }

  /** The event of a record `hasEvent` picked: null if its data is malformed. */
  private describe(buf: Buffer, start: number, totalLength: number, hi: number, lo: number, endHi: number, endLo: number): WalEvent | null {
    const info = buf[start + 16] as number;
    const xid = buf.readUInt32LE(start + 4);

    if ((buf[start + 17] as number) === RM_XACT_ID) {
      const op = info & XLOG_XACT_OPMASK;
      const commit = op === XLOG_XACT_COMMIT || op === XLOG_XACT_COMMIT_PREPARED;
      const length = mainDataLength(buf, start, totalLength);
      if (length < 8) return null;
      const main = start + totalLength - length;
      const preparedXid = (info & XLOG_XACT_HAS_INFO) === 0 ? undefined : this.twoPhaseXid(buf, main, main + length, commit);
      if (preparedXid === null) return null;
      const micros = readTimestampMicros(buf, main);
      return { kind: commit ? 'commit' : 'abort', lsn: this.lsnOf(hi, lo), endLsn: this.lsnOf(endHi, endLo), xid: preparedXid ?? xid, time: microsToDate(micros), timeMicros: micros };
    }

    switch (info & XLR_RMGR_INFO_MASK) {
      case XLOG_SWITCH:
        return { kind: 'switch', lsn: this.lsnOf(hi, lo), endLsn: this.lsnOf(endHi, endLo), xid };
      case XLOG_RESTORE_POINT: {
        // xl_restore_point: TimestampTz rp_time; char rp_name[MAXFNAMELEN = 64]
        const length = mainDataLength(buf, start, totalLength);
        if (length < 8 + 64) return null;
        const main = start + totalLength - length;
        const name = buf.subarray(main + 8, main + 72);
        const nul = name.indexOf(0);
        const micros = readTimestampMicros(buf, main);
        return { kind: 'restore-point', lsn: this.lsnOf(hi, lo), endLsn: this.lsnOf(endHi, endLo), xid, name: name.toString('utf8', 0, nul === -1 ? name.length : nul), time: microsToDate(micros), timeMicros: micros };
      }
      case XLOG_CHECKPOINT_SHUTDOWN:
      case XLOG_CHECKPOINT_ONLINE: {
        // CheckPoint: ThisTimeLineID at 8; pg_time_t time (seconds since 1970) at 64 in 15–18.
        const length = mainDataLength(buf, start, totalLength);
        if (length < 72) return null;
        const main = start + totalLength - length;
        const seconds = Number(buf.readBigInt64LE(main + 64));
        return { kind: 'checkpoint', lsn: this.lsnOf(hi, lo), endLsn: this.lsnOf(endHi, endLo), xid, timeline: buf.readUInt32LE(main + 8), time: new Date(seconds * 1000), timeMicros: seconds * 1_000_000 };
      }
      default: {
        // XLOG_END_OF_RECOVERY, the last kind hasEvent lets through. xl_end_of_recovery: TimestampTz end_time; TimeLineID ThisTimeLineID; …
        const length = mainDataLength(buf, start, totalLength);
        if (length < 12) return null;
        const main = start + totalLength - length;
        const micros = readTimestampMicros(buf, main);
        return { kind: 'checkpoint', lsn: this.lsnOf(hi, lo), endLsn: this.lsnOf(endHi, endLo), xid, timeline: buf.readUInt32LE(main + 8), time: microsToDate(micros), timeMicros: micros };
      }
    }
  }

  /** An LSN from its halves: one bigint conversion while the LSN fits a double exactly (the first 8 PiB of WAL), two beyond. */
  private lsnOf(hi: number, lo: number): Lsn {
    return hi < 1 << 21 ? BigInt(hi * TWO_32 + lo) : (BigInt(hi) << 32n) + BigInt(lo);
  }

  /**
   * The prepared transaction's xid from a commit/abort record's xinfo parts (ParseCommitRecord,
   * ParseAbortRecord): undefined when there is none, null when the parts overrun the data.
   */
  private twoPhaseXid(buf: Buffer, main: number, end: number, commit: boolean): number | undefined | null {
    // xl_xact_commit/abort: TimestampTz xact_time, then (with XLOG_XACT_HAS_INFO) uint32 xinfo and the parts it announces, unpadded.
    if (main + 12 > end) return null;
    const xinfo = buf.readUInt32LE(main + 8);
    if ((xinfo & XACT_XINFO_HAS_TWOPHASE) === 0) return undefined;
    let p = main + 12;
    if ((xinfo & XACT_XINFO_HAS_DBINFO) !== 0) p += 8;
    const arrays: Array<[number, number]> = [
      [XACT_XINFO_HAS_SUBXACTS, 4],
      [XACT_XINFO_HAS_RELFILELOCATORS, RELFILELOCATOR_SIZE],
      [XACT_XINFO_HAS_DROPPED_STATS, this.statsItemSize],
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
}

export interface SegmentSummary {
  readonly events: WalEvent[];
  readonly firstCommitTime?: Date;
  readonly lastCommitTime?: Date;
  readonly lastValidRecordEnd: Lsn;
  /** True when valid WAL ended inside this segment (a partial segment's tail). */
  readonly ended: boolean;
  /** Hand this to the call for the next segment. */
  readonly carry: ReaderCarry;
}

/**
 * Reads one segment file (or the written part of the one being written). Without `carry`
 * it starts fresh at the segment, skipping a record continued from the previous one; with
 * the carry of the previous segment's summary it also completes the record that straddles
 * the boundary. Once valid WAL has ended, later segments read with that carry yield
 * nothing: the ended one has to be read again once it is complete.
 */
export function summarizeSegment(segment: Buffer, segmentStartLsn: Lsn, segmentSize: number, carry?: ReaderCarry): SegmentSummary {
  if (carry !== undefined && carry.segmentSize !== segmentSize) {
    throw new DrcError('USAGE', `unable to read WAL segment at '${formatLsn(segmentStartLsn)}': the previous segment was read with segment size ${String(carry.segmentSize)}, not ${String(segmentSize)}`);
  }
  if (segmentStartLsn % BigInt(segmentSize) !== 0n || segment.length > segmentSize) {
    throw new DrcError('USAGE', `unable to read WAL segment at '${formatLsn(segmentStartLsn)}': a segment starts at a multiple of ${String(segmentSize)} bytes and is no longer than that`);
  }
  const reader = carry === undefined ? new WalReader({ segmentSize, startLsn: segmentStartLsn }) : WalReader.resume(carry);
  if (reader.nextLsn !== segmentStartLsn) {
    throw new DrcError('WAL_MISSING', `unable to read WAL segment at '${formatLsn(segmentStartLsn)}': the previous segment's reading ended at '${formatLsn(reader.nextLsn)}'`, {
      hints: ['read segments in order, each with the carry of the one before it'],
    });
  }
  const events = reader.push(segment);
  let firstCommitTime: Date | undefined;
  let lastCommitTime: Date | undefined;
  for (const event of events) {
    if (event.kind !== 'commit') continue;
    firstCommitTime ??= event.time;
    lastCommitTime = event.time;
  }
  return {
    events,
    ...(firstCommitTime === undefined ? {} : { firstCommitTime }),
    ...(lastCommitTime === undefined ? {} : { lastCommitTime }),
    lastValidRecordEnd: reader.lastValidRecordEnd,
    ended: reader.ended,
    carry: reader.carry(),
  };
}

/** Whether a record (by xl_rmid and xl_info) is one that yields an event; only these are decoded. */
function hasEvent(rmid: number, info: number): boolean {
  if (rmid === RM_XACT_ID) {
    const op = info & XLOG_XACT_OPMASK;
    return op === XLOG_XACT_COMMIT || op === XLOG_XACT_COMMIT_PREPARED || op === XLOG_XACT_ABORT || op === XLOG_XACT_ABORT_PREPARED;
  }
  if (rmid !== RM_XLOG_ID) return false;
  const op = info & XLR_RMGR_INFO_MASK;
  return op === XLOG_SWITCH || op === XLOG_RESTORE_POINT || op === XLOG_CHECKPOINT_SHUTDOWN || op === XLOG_CHECKPOINT_ONLINE || op === XLOG_END_OF_RECOVERY;
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
function u32(buf: Buffer, at: number): number {
  return ((buf[at] as number) | ((buf[at + 1] as number) << 8) | ((buf[at + 2] as number) << 16) | ((buf[at + 3] as number) << 24)) >>> 0;
}

/**
 * Copies a few bytes (a header or part of one). Buffer#copy makes a view of the source
 * for every partial copy, which for a header per page and per spanning record is garbage
 * the collector then spends more time on than the copying takes.
 */
function copySmall(source: Buffer, from: number, length: number, target: Buffer, to: number): void {
  for (let k = 0; k < length; k++) target[to + k] = source[from + k] as number;
}

/** A TimestampTz (int64 µs since 2000-01-01) as µs since 1970; exact as a number until the year 2255. */
function readTimestampMicros(buf: Buffer, at: number): number {
  return buf.readInt32LE(at + 4) * TWO_32 + buf.readUInt32LE(at) + POSTGRES_EPOCH_MICROS;
}

const microsToDate = (micros: number): Date => new Date(Math.floor(micros / 1000));

function lsnToHalves(lsn: Lsn): { hi: number; lo: number } {
  return { hi: Number(lsn >> 32n), lo: Number(lsn & 0xffffffffn) };
}
