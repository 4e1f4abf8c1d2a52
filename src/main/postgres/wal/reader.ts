import { DrcError } from '../../../shared/errors.js';
import { formatLsn, parseLsn, type Lsn } from '../lsn.js';
import { decodeEvent, hasEvent, RM_MAX_BUILTIN_ID, RM_MIN_CUSTOM_ID, RM_XLOG_ID, TWO_32, u32, XLOG_SWITCH, XLR_RMGR_INFO_MASK, type WalEvent } from './events.js';
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
import { requireWalSegmentSize } from './segment-size.js';

/**
 * A WAL reader that finds the records `events.ts` describes, and where valid WAL ends. It
 * validates what PostgreSQL's own xlogreader validates (page magic and address,
 * continuation lengths, the record header and its xl_prev link, the record's CRC-32C), so
 * a torn, recycled or corrupted tail ends the WAL instead of producing events.
 *
 * It is incremental: feed it the WAL as it comes (a replication stream, or segment files
 * one after another) in pieces of any size. Positions are kept as numbers (segment
 * number and offset, or the two 32-bit halves of an LSN) so the per-record path does no
 * bigint arithmetic; bigints are built only for the events returned.
 */

/**
 * A record with an event that runs past the end of a segment, as far as that segment
 * holds it: its start and its bytes up to the segment's end, page headers left out
 * (base64). Plain JSON, kept in the segment's summary, so whoever reads the next segment
 * — another `wal push` process, another day, another repository's copy — can complete
 * the record. Records without an event are not kept: the next segment's reader skips
 * their continuation as PostgreSQL's page headers describe it.
 */
export interface ContinuedRecord {
  readonly lsn: string;
  readonly head: string;
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
  /**
   * With `startLsn` at a segment's start: the record the previous segment's reader left
   * unfinished (`continuedRecord()`), completed instead of skipped.
   */
  readonly continuing?: ContinuedRecord;
}

type Phase = 'record' | 'body' | 'continuation' | 'switch-padding' | 'ended';

/** Records up to this size are assembled in a buffer the reader keeps; bigger ones get their own. */
const MAX_KEPT_ASSEMBLY = 1024 * 1024;

/**
 * Reads WAL pushed in order, in pieces of any size, and returns the events of the records
 * each piece completes. Reuse one reader across segments; at a segment boundary, hand
 * over to a reader in another process with `continuedRecord()`.
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
  /** A record handed over by the previous segment's reader, until the first page header confirms it. */
  private handedOver = false;

  constructor(options: WalReaderOptions) {
    const { segmentSize, startLsn } = options;
    requireWalSegmentSize(segmentSize, 'WAL');
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
    if (options.continuing !== undefined) this.continueRecord(options.continuing, startLsn);
  }

  /**
   * Standing at a segment boundary: the record with an event that is under way, for the
   * reader of the next segment. Undefined when none is (or the one under way has no event).
   */
  continuedRecord(): ContinuedRecord | undefined {
    if (this.off !== 0) {
      throw new DrcError('USAGE', `unable to hand over WAL reading at '${formatLsn(this.nextLsn)}': only a segment boundary is a place to hand over`);
    }
    const lsn = formatLsn(this.lsnOf(this.recordHi, this.recordLo));
    if (this.phase === 'body' && this.assembling) return { lsn, head: this.record.subarray(0, this.recordGot).toString('base64') };
    // A header cut short: whether the record has an event is not known yet, and it is small.
    if (this.phase === 'record' && this.headerGot > 0) return { lsn, head: this.recordHeader.subarray(0, this.headerGot).toString('base64') };
    return undefined;
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

  /**
   * Takes up the record the previous segment's reader left unfinished. Its header was
   * checked there; the first page header here must continue a record by exactly as many
   * bytes as are missing, else the head is dropped (see acceptPageHeader).
   */
  private continueRecord(continuing: ContinuedRecord, startLsn: Lsn): void {
    const start = parseLsn(continuing.lsn);
    const head = Buffer.from(continuing.head, 'base64');
    const length = head.length >= 4 ? u32(head, 0) : 0;
    const plausible = this.off === 0 && start < startLsn && head.length >= 8 && length > head.length && length <= MAX_RECORD_SIZE;
    if (!plausible) return;
    this.handedOver = true;
    this.recordHi = Number(start >> 32n);
    this.recordLo = Number(start & 0xffffffffn);
    if (head.length < RECORD_HEADER_SIZE) {
      head.copy(this.recordHeader);
      this.headerGot = head.length;
      this.phase = 'record';
      return;
    }
    if (!hasEvent(head[17] as number, head[16] as number)) {
      this.handedOver = false;
      return;
    }
    this.assembling = true;
    this.prepareRecord(length);
    head.copy(this.record);
    this.recordGot = head.length;
    this.phase = 'body';
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
    if (this.handedOver) {
      this.handedOver = false;
      const total = this.phase === 'body' ? this.recordLength : u32(this.recordHeader, 0);
      const got = this.phase === 'body' ? this.recordGot : this.headerGot;
      if (!continued || remaining !== total - got) {
        // Not the record this page continues (a summary written for another history): drop
        // it and read this segment on its own, as without one; a torn WAL is no reason here.
        this.headerGot = 0;
        this.record = this.assembly;
        this.phase = continued ? 'continuation' : 'record';
        this.skip = continued ? maxAlign(remaining) : 0;
        return;
      }
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
      const event = decodeEvent(buf, start, this.statsItemSize);
      // A record whose CRC holds but whose layout does not is as invalid to PostgreSQL as a torn one.
      if (event === null) return this.end();
      events.push({ ...event, lsn: this.lsnOf(hi, lo), endLsn: this.lsnOf(endHi, endLo) });
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

  /** An LSN from its halves: one bigint conversion while the LSN fits a double exactly (the first 8 PiB of WAL), two beyond. */
  private lsnOf(hi: number, lo: number): Lsn {
    return hi < 1 << 21 ? BigInt(hi * TWO_32 + lo) : (BigInt(hi) << 32n) + BigInt(lo);
  }
}

/**
 * Copies a few bytes (a header or part of one). Buffer#copy makes a view of the source
 * for every partial copy, which for a header per page and per spanning record is garbage
 * the collector then spends more time on than the copying takes.
 */
function copySmall(source: Buffer, from: number, length: number, target: Buffer, to: number): void {
  for (let k = 0; k < length; k++) target[to + k] = source[from + k] as number;
}
