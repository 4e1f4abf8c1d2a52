import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { DrcError } from '../../../shared/errors.js';
import { parseSegmentFileName, segmentStart } from '../../postgres/lsn.js';
import { WalReader } from '../../postgres/wal/records.js';
import type { Repository } from '../../repo/repository.js';
import { walHistoryObject, walSegmentObject, writeWalSummary } from '../../repo/wal-archive.js';
import { ObjectSource, orderRepositories } from '../restore/object-source.js';
import { SegmentSummaryBuilder } from './segment-summary.js';
import { recordInWalIndex } from './wal-index.js';

/**
 * `drc wal push` and `drc wal get`, for servers that archive with archive_command and
 * recover with restore_command instead of streaming. PostgreSQL runs them once per file
 * and treats exit 0 as "done": push succeeds only when every repository stored the file;
 * get fails (non-zero) when no repository has it, which is how recovery learns it has
 * reached the end of the archive.
 */
export async function pushWalFile(repositories: readonly Repository[], path: string, segmentSize: number): Promise<{ object: string; repositories: string[] }> {
  const file = basename(path);
  const content = await readFile(path);
  const history = /^([0-9A-F]{8})\.history$/.exec(file);
  const partial = file.endsWith('.partial');
  const segment = parseSegmentFileName(partial ? file.slice(0, -'.partial'.length) : file, segmentSize);
  if (!history && !segment) {
    throw new DrcError('USAGE', `unable to archive '${file}': not a WAL segment or timeline history file name`, {
      hints: ['archive_command = \'drc wal push %p\' passes the right path; .backup files need not be archived'],
    });
  }
  const object = history ? walHistoryObject(parseInt(history[1] ?? '1', 16)) : walSegmentObject(segment?.timeline ?? 1, file.replace(/\.partial$/, ''), partial);
  await Promise.all(
    repositories.map(async (repository) => {
      const storedBytes = await repository.writeNamedObject(object, content);
      if (segment) {
        const start = segmentStart(segment.segment, segmentSize);
        const builder = new SegmentSummaryBuilder(segment.timeline, segment.segment, segmentSize, start);
        const reader = new WalReader({ segmentSize, startLsn: start });
        for (const event of reader.push(content)) builder.add(event);
        const summary = builder.build(content.length, partial, reader.lastValidRecordEnd);
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
