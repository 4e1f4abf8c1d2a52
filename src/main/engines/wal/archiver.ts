import { DrcError, type ErrorData } from '../../../shared/errors.js';
import { withSql } from '../../postgres/cluster.js';
import { formatLsn, segmentNumber, segmentStart, type Lsn } from '../../postgres/lsn.js';
import { ReplicationConnection } from '../../postgres/replication/connection.js';
import type { ReplicationConnectionOptions } from '../../postgres/replication/types.js';
import { WalReader, type ContinuedRecord } from '../../postgres/wal/reader.js';
import type { Repository } from '../../repo/repository.js';
import type { RepositorySet } from '../../repo/repository-set.js';
import { walHistoryObject, walSegmentObject, writeWalSummary, type WalSummary } from '../../repo/wal-archive.js';
import { segmentFileName } from '../../postgres/lsn.js';
import { continuedRecordBefore, SegmentSummaryBuilder } from './segment-summary.js';
import { recordInWalIndex } from './wal-index.js';

export interface ArchiverStatus {
  timeline: number;
  /** Newest WAL received from the server. */
  receivedLsn: string;
  /** Newest WAL stored in every live repository (complete or partial upload). */
  storedLsn: string;
  lastCommitStored: string | undefined;
  segmentsStored: number;
  failedRepositories: Array<{ repository: string; error: ErrorData }>;
  warnings: string[];
}

export interface ArchiverOptions {
  readonly connection: ReplicationConnectionOptions;
  readonly slot: string;
  /** Upload the segment being written at least this often while WAL flows (RPO in seconds). */
  readonly partialIntervalMs?: number;
  readonly signal: AbortSignal;
  readonly onStatus?: (status: ArchiverStatus) => void;
  /** Retained WAL above this many bytes draws a warning. */
  readonly retainedWarningBytes?: number;
}

/**
 * wal stream: WAL from a physical replication slot into every repository.
 *
 * The slot makes the server keep WAL while the console is closed; the slot advances only
 * past WAL that every live repository has stored. Complete segments are stored as they
 * fill; the segment being written is uploaded as `.partial` every few seconds while WAL
 * flows, so what a crash can lose is seconds, not a segment. At the end of a timeline
 * (a promotion) the server says so: the history file is stored and streaming follows
 * the new timeline. SIGINT/SIGTERM (the abort signal) stop it cleanly, flushing the
 * partial segment first.
 */
export async function streamWal(set: RepositorySet, options: ArchiverOptions): Promise<ArchiverStatus> {
  const connection = await ReplicationConnection.connect(options.connection);
  try {
    const identity = await connection.identifySystem();
    const segmentSize = await connection.walSegmentSizeBytes();
    const slot = await connection.ensurePhysicalSlot(options.slot);
    const warnings = await slotWarnings(options, segmentSize);
    const writer = new SegmentWriter(set.repositories, segmentSize);
    const status: ArchiverStatus = {
      timeline: slot.timeline ?? identity.timeline,
      receivedLsn: formatLsn(slot.restartLsn ?? identity.walPosition),
      storedLsn: formatLsn(slot.restartLsn ?? identity.walPosition),
      lastCommitStored: undefined,
      segmentsStored: 0,
      failedRepositories: [],
      warnings,
    };
    let timeline = slot.timeline ?? identity.timeline;
    let start = segmentStart(segmentNumber(slot.restartLsn ?? identity.walPosition, segmentSize), segmentSize);
    // A server already past timeline 1 (a promoted standby or restored copy): its history
    // file tells recovery how the timelines connect, so it goes into the archive first.
    if (timeline > 1) await writer.storeHistory(timeline, (await connection.timelineHistory(timeline)).content);
    options.onStatus?.(status);

    while (!options.signal.aborted) {
      // The record the segment before this one left unfinished, stored by an earlier run or by `wal push`.
      const continuing = await continuedRecordBefore(set.repositories, timeline, segmentNumber(start, segmentSize), segmentSize);
      const segment = new OpenSegment(timeline, start, segmentSize, continuing);
      let partialUpload: Promise<void> = Promise.resolve();
      let partialFailure: Error | undefined;
      const stream = connection.startReplication(options.slot, start, timeline, {
        onWalData: async (lsn, data) => {
          const completedSegments = segment.append(lsn, data);
          // A partial upload in flight must land before the complete segment replaces it.
          if (completedSegments.length > 0) await partialUpload;
          for (const completed of completedSegments) {
            await writer.storeComplete(completed);
            status.segmentsStored += 1;
            stream.confirm(completed.endLsn);
            noteStored(status, completed.summary, writer);
            options.onStatus?.(status);
          }
          status.receivedLsn = formatLsn(segment.position);
        },
      });
      const timer = setInterval(() => {
        void uploadPartial();
      }, options.partialIntervalMs ?? 5000);
      // One upload at a time; a failure is kept and rethrown below, never dropped.
      const uploadPartial = (): Promise<void> => {
        partialUpload = partialUpload.then(async () => {
          const partial = segment.partial();
          if (!partial || partial.endLsn <= writer.partialStoredUpTo(timeline)) return;
          await writer.storePartial(partial);
          stream.confirm(partial.endLsn);
          noteStored(status, partial.summary, writer);
          options.onStatus?.(status);
        }).catch((error: unknown) => {
          partialFailure ??= error instanceof Error ? error : new Error(String(error));
        });
        return partialUpload;
      };
      const stop = (): void => {
        void stream.stop();
      };
      options.signal.addEventListener('abort', stop, { once: true });
      let end;
      try {
        end = await stream.finished;
      } finally {
        clearInterval(timer);
        options.signal.removeEventListener('abort', stop);
      }
      await uploadPartial();
      if (partialFailure !== undefined) throw partialFailure;
      if (!end.nextTimeline) break;
      // Promotion: keep the history file, then follow the new timeline from its start.
      const history = await connection.timelineHistory(end.nextTimeline.timeline);
      await writer.storeHistory(end.nextTimeline.timeline, history.content);
      timeline = end.nextTimeline.timeline;
      start = segmentStart(segmentNumber(end.nextTimeline.startLsn, segmentSize), segmentSize);
      status.timeline = timeline;
    }
    status.failedRepositories = [...writer.failures()].map(([repository, error]) => ({ repository, error }));
    return status;
  } finally {
    await connection.close();
  }
}

function noteStored(status: ArchiverStatus, summary: WalSummary, writer: SegmentWriter): void {
  status.storedLsn = summary.endLsn;
  if (summary.lastCommitTime) status.lastCommitStored = summary.lastCommitTime;
  status.failedRepositories = [...writer.failures()].map(([repository, error]) => ({ repository, error }));
}

/** max_slot_wal_keep_size = -1 lets a forgotten slot fill the server's disk; say so. */
async function slotWarnings(options: ArchiverOptions, segmentSize: number): Promise<string[]> {
  return withSql(options.connection, async (client) => {
    const warnings: string[] = [];
    const keep = await client.query<{ setting: string }>("SELECT setting FROM pg_settings WHERE name = 'max_slot_wal_keep_size'");
    if (keep.rows[0]?.setting === '-1') {
      warnings.push(`max_slot_wal_keep_size is unlimited: while the console is not streaming, slot '${options.slot}' keeps all WAL on the server and can fill its disk; consider a limit such as 50GB`);
    }
    const retained = await client.query<{ bytes: string | null }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text AS bytes FROM pg_replication_slots WHERE slot_name = $1', [options.slot]);
    const bytes = Number(retained.rows[0]?.bytes ?? 0);
    const limit = options.retainedWarningBytes ?? 64 * segmentSize;
    if (bytes > limit) warnings.push(`slot '${options.slot}' retains ${String(Math.round(bytes / 1024 / 1024))} MiB of WAL on the server; it shrinks as the archive catches up`);
    return warnings;
  });
}

interface SegmentContent {
  readonly timeline: number;
  readonly segment: bigint;
  readonly name: string;
  readonly data: Buffer;
  readonly endLsn: Lsn;
  readonly summary: WalSummary;
}

/**
 * The segment being received: bytes, and what the WAL reader found in them so far. One
 * reader runs across segments, so a record is reported by the piece of WAL that ends it
 * and lands in the summary of the segment where it ends, as `wal push` puts it.
 */
class OpenSegment {
  private buffer: Buffer;
  private fill = 0;
  private segment: bigint;
  private summary: SegmentSummaryBuilder;
  private readonly reader: WalReader;

  constructor(
    private readonly timeline: number,
    start: Lsn,
    private readonly segmentSize: number,
    continuing: ContinuedRecord | undefined,
  ) {
    this.segment = segmentNumber(start, segmentSize);
    this.buffer = Buffer.alloc(segmentSize);
    this.summary = new SegmentSummaryBuilder(timeline, this.segment, segmentSize, start);
    this.reader = new WalReader({ segmentSize, startLsn: start, ...(continuing === undefined ? {} : { continuing }) });
  }

  get position(): Lsn {
    return segmentStart(this.segment, this.segmentSize) + BigInt(this.fill);
  }

  /** Adds WAL; returns the segments this data completed. */
  append(lsn: Lsn, data: Buffer): SegmentContent[] {
    if (lsn !== this.position) {
      throw new DrcError('PG_PROTOCOL', `unable to archive WAL: the server sent ${formatLsn(lsn)} where ${formatLsn(this.position)} was expected`, { hints: ['restart `drc wal stream`'] });
    }
    const completed: SegmentContent[] = [];
    let offset = 0;
    while (offset < data.length) {
      const take = Math.min(this.segmentSize - this.fill, data.length - offset);
      const piece = data.subarray(offset, offset + take);
      piece.copy(this.buffer, this.fill);
      for (const event of this.reader.push(piece)) this.summary.add(event);
      this.fill += take;
      offset += take;
      if (this.fill === this.segmentSize) {
        completed.push(this.content(this.buffer, false));
        this.segment += 1n;
        this.buffer = Buffer.alloc(this.segmentSize);
        this.fill = 0;
        this.summary = new SegmentSummaryBuilder(this.timeline, this.segment, this.segmentSize, this.position);
      }
    }
    return completed;
  }

  /** The bytes received so far of the current segment, if any. */
  partial(): SegmentContent | undefined {
    if (this.fill === 0) return undefined;
    return this.content(Buffer.from(this.buffer.subarray(0, this.fill)), true);
  }

  private content(data: Buffer, partial: boolean): SegmentContent {
    const name = segmentFileName(this.timeline, this.segment, this.segmentSize);
    const end = segmentStart(this.segment, this.segmentSize) + BigInt(data.length);
    const validEnd = this.reader.lastValidRecordEnd < end ? this.reader.lastValidRecordEnd : end;
    // A complete segment's content is taken with the reader standing at its end: what runs on into the next one is handed over there.
    const continued = partial ? undefined : this.reader.continuedRecord();
    return { timeline: this.timeline, segment: this.segment, name, data, endLsn: end, summary: this.summary.build(data.length, partial, validEnd, continued) };
  }
}

/**
 * Writes WAL objects to every repository. A repository that fails is reported and
 * skipped from then on (its gap is visible in `wal status` and filled by `drc sync`);
 * only when no repository is left does streaming stop with an error.
 */
class SegmentWriter {
  private readonly failed = new Map<string, ErrorData>();
  private readonly partialEnd = new Map<number, Lsn>();

  constructor(
    private readonly repositories: readonly Repository[],
    readonly segmentSize: number,
  ) {}

  failures(): Map<string, ErrorData> {
    return this.failed;
  }

  partialStoredUpTo(timeline: number): Lsn {
    return this.partialEnd.get(timeline) ?? 0n;
  }

  async storeComplete(content: SegmentContent): Promise<void> {
    await this.everywhere(async (repository) => {
      const segmentBytes = await repository.writeNamedObject(walSegmentObject(content.timeline, content.name), content.data);
      const summaryBytes = await writeWalSummary(repository, content.summary);
      // The complete segment supersedes its partial uploads.
      await repository.target.delete([walSegmentObject(content.timeline, content.name, true), `${walSegmentObject(content.timeline, content.name, true)}.summary`]);
      // Last: the index names only what is stored. The slot has not moved past this segment
      // yet, so a crash before this line streams it again and records it then.
      await recordInWalIndex(repository, content.timeline, { segments: [{ file: content.name, summary: content.summary, storedBytes: segmentBytes + summaryBytes }] }, this.segmentSize);
    });
  }

  async storePartial(content: SegmentContent): Promise<void> {
    await this.everywhere(async (repository) => {
      // Segment bytes first, then the summary that describes them.
      await repository.writeNamedObject(walSegmentObject(content.timeline, content.name, true), content.data);
      await writeWalSummary(repository, content.summary);
    });
    this.partialEnd.set(content.timeline, content.endLsn);
  }

  async storeHistory(timeline: number, content: Buffer): Promise<void> {
    await this.everywhere(async (repository) => {
      await repository.writeNamedObject(walHistoryObject(timeline), content);
      await recordInWalIndex(repository, timeline, { history: true }, this.segmentSize);
    });
  }

  private async everywhere(write: (repository: Repository) => Promise<void>): Promise<void> {
    const live = this.repositories.filter((repository) => !this.failed.has(repository.name));
    await Promise.all(
      live.map(async (repository) => {
        try {
          await write(repository);
        } catch (error) {
          if (!(error instanceof DrcError)) throw error;
          this.failed.set(repository.name, error.toData());
        }
      }),
    );
    if (this.failed.size === this.repositories.length) {
      throw new DrcError('STORAGE_UNAVAILABLE', 'unable to store WAL in any repository', { hints: [...this.failed].map(([name, error]) => `${name}: ${error.message}`) });
    }
  }
}
