import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { DrcError } from '../../../shared/errors.js';
import { parseSegmentFileName, segmentStart } from '../../postgres/lsn.js';
import { XLP_FIRST_IS_CONTRECORD } from '../../postgres/wal/page.js';
import { summarizeSegment } from '../../postgres/wal/segment.js';
import { segmentSizeInHeader } from '../../postgres/wal/segment-size.js';
import type { Repository } from '../../repo/repository.js';
import { walHistoryObject, walSegmentObject, writeWalSummary, type WalSummary } from '../../repo/wal-archive.js';
import { ObjectSource, orderRepositories } from '../../repo/object-source.js';
import { continuedRecordBefore, SegmentSummaryBuilder } from './segment-summary.js';
import { recordInWalIndex } from './wal-index.js';

/**
 * `drc wal push` and `drc wal get`, for servers that archive with archive_command and
 * recover with restore_command instead of streaming. PostgreSQL runs them once per file
 * and treats exit 0 as "done": push succeeds only when every repository stored the file;
 * get fails (non-zero) when no repository has it, which is how recovery learns it has
 * reached the end of the archive.
 */
export async function pushWalFile(repositories: readonly Repository[], path: string, archivedSegmentSize: number): Promise<{ object: string; repositories: string[] }> {
  const file = basename(path);
  const content = await readFile(path);
  const history = /^([0-9A-F]{8})\.history$/.exec(file);
  const partial = file.endsWith('.partial');
  // A segment says in its first page header what size the server wrote it with; the
  // archive's size serves only files that cannot say (a history file, a zeroed head).
  const segmentSize = segmentSizeInHeader(content) ?? archivedSegmentSize;
  const segment = parseSegmentFileName(partial ? file.slice(0, -'.partial'.length) : file, segmentSize);
  if (!history && !segment) {
    throw new DrcError('USAGE', `unable to archive '${file}': not a WAL segment or timeline history file name`, {
      hints: ['archive_command = \'drc wal push %p\' passes the right path; .backup files need not be archived'],
    });
  }
  const object = history ? walHistoryObject(parseInt(history[1] ?? '1', 16)) : walSegmentObject(segment?.timeline ?? 1, file.replace(/\.partial$/, ''), partial);
  const summary = segment ? await summarizePushed(repositories, segment, segmentSize, content, partial) : undefined;
  await Promise.all(
    repositories.map(async (repository) => {
      const storedBytes = await repository.writeNamedObject(object, content);
      if (segment && summary) {
        const summaryBytes = await writeWalSummary(repository, summary);
        // PostgreSQL pushes this file again if we fail here, and records it then.
        if (!partial) await recordInWalIndex(repository, segment.timeline, { segments: [{ file: summary.segment, summary, storedBytes: storedBytes + summaryBytes }] }, segmentSize);
      } else if (history) {
        await recordInWalIndex(repository, parseInt(history[1] ?? '1', 16), { history: true }, segmentSize);
      }
    }),
  );
  return { object, repositories: repositories.map((repository) => repository.name) };
}

/**
 * One segment's summary, the same whichever process pushes it: a record that began in
 * the previous segment is completed from what that segment's summary kept of it, so a
 * restore point or commit straddling the boundary lands in this summary, where it ends
 * (see `summarizeSegment` for why there), exactly as `wal stream` puts it.
 */
async function summarizePushed(repositories: readonly Repository[], segment: { timeline: number; segment: bigint }, segmentSize: number, content: Buffer, partial: boolean): Promise<WalSummary> {
  const start = segmentStart(segment.segment, segmentSize);
  const continuing = startsWithContinuation(content) ? await continuedRecordBefore(repositories, segment.timeline, segment.segment, segmentSize) : undefined;
  const read = summarizeSegment(content.length > segmentSize ? content.subarray(0, segmentSize) : content, start, segmentSize, continuing);
  const builder = new SegmentSummaryBuilder(segment.timeline, segment.segment, segmentSize, start);
  for (const event of read.events) builder.add(event);
  return builder.build(content.length, partial, read.lastValidRecordEnd, read.continuedRecord);
}

/** XLP_FIRST_IS_CONTRECORD on the first page: a record from the previous segment runs into this one. */
const startsWithContinuation = (content: Buffer): boolean => content.length >= 4 && (content.readUInt16LE(2) & XLP_FIRST_IS_CONTRECORD) !== 0;

export async function getWalFile(repositories: readonly Repository[], name: string, destination: string, segmentSize: number): Promise<{ object: string; from: string }> {
  const history = /^([0-9A-F]{8})\.history$/.exec(name);
  const segment = parseSegmentFileName(name, segmentSize);
  if (!history && !segment) {
    throw new DrcError('USAGE', `unable to fetch '${name}': not a WAL segment or timeline history file name`, { hints: ["restore_command = 'drc wal get %f %p'"] });
  }
  const object = history ? walHistoryObject(parseInt(history[1] ?? '1', 16)) : walSegmentObject(segment?.timeline ?? 1, name);
  const source = new ObjectSource(orderRepositories(repositories));
  const content = await source.read(object);
  await writeFile(destination, content, { mode: 0o600 });
  return { object, from: source.fallbacks.at(-1)?.usedInstead ?? source.preferred };
}
