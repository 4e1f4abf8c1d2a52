import { DrcError } from '../../../shared/errors.js';
import type { ChunkRef, Manifest, ManifestFile } from '../../repo/manifest.js';
import type { Repository } from '../../repo/repository.js';
import type { FileChunker } from './file-chunker.js';
import type { TarEntry, TarSink } from './tar-reader.js';

/**
 * PostgreSQL 17+ native incremental backups send, for a relation file that changed
 * little, `INCREMENTAL.<name>`: a header listing the changed block numbers, then just
 * those blocks. We turn each one back into the complete file at backup time, so every
 * manifest is a full backup and a restore never chains backups:
 *
 *  - a chunk whose blocks did not change (and lie below the truncation length) reuses
 *    the previous backup's chunk reference — nothing is read or written;
 *  - a chunk with changed blocks starts from the previous backup's chunk (read and
 *    authenticated from the repository) with the new blocks laid over it.
 *
 * Header (PostgreSQL 17 src/backup/basebackup_incremental.c): magic u32 0xd3ae1f0d,
 * block count u32, truncation block length u32, block numbers u32[count], zero padding
 * to a multiple of BLCKSZ when count > 0, then the blocks.
 */
const incrementalMagic = 0xd3ae1f0d;

/**
 * The backup_label of an incremental backup names the backup it depends on; PostgreSQL
 * refuses to start from it ("this is an incremental backup"). Once the files are whole
 * it is a full backup, so those lines go, as pg_combinebackup removes them.
 */
export function fullBackupLabel(label: Buffer): Buffer {
  const lines = label.toString('utf8').split('\n');
  return Buffer.from(lines.filter((line) => !line.startsWith('INCREMENTAL FROM LSN: ') && !line.startsWith('INCREMENTAL FROM TLI: ')).join('\n'));
}
const blockSize = 8192;
const prefix = 'INCREMENTAL.';

interface OpenIncremental {
  readonly entry: TarEntry;
  readonly path: string;
  header: Buffer;
  blockCount: number | undefined;
  truncationBlocks: number;
  blocks: number[];
  headerLength: number;
  received: number;
  /** Changed blocks of the chunk being assembled, by block number. */
  pending: Map<number, Buffer>;
  blockBuffer: Buffer;
  blockFill: number;
  nextBlockIndex: number;
  chunkIndex: number;
  refs: ChunkRef[];
}

export class IncrementalFiles {
  private readonly previousFiles: Map<string, ManifestFile>;
  private chunkCache: { id: string; plaintext: Buffer } | undefined;

  constructor(
    previous: Manifest,
    private readonly repository: Repository,
    private readonly chunker: FileChunker,
    /** Whether every repository of this backup holds a chunk (else it is read and stored again). */
    private readonly heldEverywhere: (id: string) => boolean,
  ) {
    this.previousFiles = new Map(previous.files.map((file) => [file.path, file]));
  }

  /** A tar sink that rebuilds incremental files and passes everything else to the chunker. */
  sink(pathPrefix: string): TarSink {
    let open: OpenIncremental | undefined;
    let label: Buffer[] | undefined;
    return {
      onEntry: (entry) => {
        if (pathPrefix === '' && entry.path === 'backup_label') {
          label = [];
          return;
        }
        const base = entry.path.slice(entry.path.lastIndexOf('/') + 1);
        if (entry.type === 'file' && base.startsWith(prefix)) {
          const directory = entry.path.slice(0, entry.path.length - base.length);
          open = this.begin(entry, `${pathPrefix}${directory}${base.slice(prefix.length)}`);
          return;
        }
        open = undefined;
        this.chunker.onEntry(entry);
      },
      onData: async (data) => {
        if (label) label.push(Buffer.from(data));
        else if (open) await this.consume(open, data);
        else await this.chunker.onData(data);
      },
      onEntryEnd: async (entry) => {
        if (label) {
          const content = fullBackupLabel(Buffer.concat(label));
          label = undefined;
          this.chunker.onEntry({ ...entry, size: content.length });
          await this.chunker.onData(content);
          await this.chunker.onEntryEnd({ ...entry, size: content.length });
          return;
        }
        if (open) {
          await this.end(open);
          open = undefined;
          return;
        }
        await this.chunker.onEntryEnd(entry);
      },
    };
  }

  private begin(entry: TarEntry, path: string): OpenIncremental {
    return {
      entry,
      path,
      header: Buffer.alloc(0),
      blockCount: undefined,
      truncationBlocks: 0,
      blocks: [],
      headerLength: 12,
      received: 0,
      pending: new Map(),
      blockBuffer: Buffer.allocUnsafe(blockSize),
      blockFill: 0,
      nextBlockIndex: 0,
      chunkIndex: 0,
      refs: [],
    };
  }

  private get blocksPerChunk(): number {
    return this.chunker.chunkSize / blockSize;
  }

  private async consume(file: OpenIncremental, data: Buffer): Promise<void> {
    let offset = 0;
    while (offset < data.length) {
      if (file.received < file.headerLength) {
        const take = Math.min(file.headerLength - file.received, data.length - offset);
        file.header = Buffer.concat([file.header, data.subarray(offset, offset + take)]);
        file.received += take;
        offset += take;
        if (file.received === file.headerLength) this.parseHeader(file);
        continue;
      }
      const take = Math.min(blockSize - file.blockFill, data.length - offset);
      data.copy(file.blockBuffer, file.blockFill, offset, offset + take);
      file.blockFill += take;
      file.received += take;
      offset += take;
      if (file.blockFill === blockSize) await this.acceptBlock(file);
    }
  }

  private parseHeader(file: OpenIncremental): void {
    if (file.blockCount === undefined) {
      if (file.header.readUInt32LE(0) !== incrementalMagic) throw this.invalid(file, 'bad magic number');
      file.blockCount = file.header.readUInt32LE(4);
      file.truncationBlocks = file.header.readUInt32LE(8);
      const listEnd = 12 + 4 * file.blockCount;
      file.headerLength = file.blockCount > 0 ? Math.ceil(listEnd / blockSize) * blockSize : listEnd;
      if (file.headerLength > file.received) return;
    }
    for (let index = 0; index < file.blockCount; index++) {
      const block = file.header.readUInt32LE(12 + 4 * index);
      if (index > 0 && block <= (file.blocks[index - 1] ?? -1)) throw this.invalid(file, 'block numbers are not in ascending order');
      file.blocks.push(block);
    }
  }

  private async acceptBlock(file: OpenIncremental): Promise<void> {
    const block = file.blocks[file.nextBlockIndex];
    if (block === undefined) throw this.invalid(file, 'more block data than the header announced');
    file.nextBlockIndex += 1;
    const chunkIndex = Math.floor(block / this.blocksPerChunk);
    // Blocks arrive in ascending order: every chunk before this block's is complete.
    while (file.chunkIndex < chunkIndex) await this.emitChunk(file);
    file.pending.set(block, file.blockBuffer);
    file.blockBuffer = Buffer.allocUnsafe(blockSize);
    file.blockFill = 0;
  }

  private newLengthBlocks(file: OpenIncremental): number {
    return Math.max(file.truncationBlocks, (file.blocks.at(-1) ?? -1) + 1);
  }

  private async end(file: OpenIncremental): Promise<void> {
    if (file.blockCount === undefined || file.nextBlockIndex !== file.blockCount || file.blockFill !== 0) throw this.invalid(file, 'the file ended before all announced blocks arrived');
    const chunks = Math.ceil(this.newLengthBlocks(file) / this.blocksPerChunk);
    while (file.chunkIndex < chunks) await this.emitChunk(file);
    this.chunker.addFile({
      path: file.path,
      type: 'file',
      size: this.newLengthBlocks(file) * blockSize,
      mode: file.entry.mode,
      mtime: file.entry.mtime.toISOString(),
      chunks: file.refs,
    });
  }

  private async emitChunk(file: OpenIncremental): Promise<void> {
    const index = file.chunkIndex;
    file.chunkIndex += 1;
    const firstBlock = index * this.blocksPerChunk;
    const blocks = Math.min(this.blocksPerChunk, this.newLengthBlocks(file) - firstBlock);
    if (blocks <= 0) return;
    const previous = this.previousFiles.get(file.path);
    const previousRef = previous?.chunks[index];
    const untouched = ![...file.pending.keys()].some((block) => block >= firstBlock && block < firstBlock + blocks);
    const belowTruncation = firstBlock + blocks <= file.truncationBlocks;
    if (untouched && belowTruncation && previousRef && previousRef.offset === undefined && previousRef.length === blocks * blockSize && this.heldEverywhere(previousRef.id)) {
      file.refs.push(previousRef);
      return;
    }
    const chunk = Buffer.alloc(blocks * blockSize);
    if (previous) {
      const base = await this.readPrevious(previous, firstBlock * blockSize, Math.min(blocks, Math.max(0, file.truncationBlocks - firstBlock)) * blockSize);
      base.copy(chunk, 0);
    }
    for (const [block, content] of file.pending) {
      if (block >= firstBlock && block < firstBlock + blocks) content.copy(chunk, (block - firstBlock) * blockSize);
    }
    for (const block of [...file.pending.keys()]) if (block < firstBlock + blocks) file.pending.delete(block);
    await this.chunker.storeInto(file.refs, chunk);
  }

  /** `length` bytes of the previous backup's copy of the file from `start` (shorter if it was shorter). */
  private async readPrevious(file: ManifestFile, start: number, length: number): Promise<Buffer> {
    const pieces: Buffer[] = [];
    let position = 0;
    for (const ref of file.chunks) {
      const refStart = position;
      position += ref.length;
      if (position <= start || refStart >= start + length) continue;
      const plaintext = await this.readChunk(ref.id);
      const from = (ref.offset ?? 0) + Math.max(0, start - refStart);
      const to = (ref.offset ?? 0) + Math.min(ref.length, start + length - refStart);
      pieces.push(plaintext.subarray(from, to));
    }
    return Buffer.concat(pieces);
  }

  private async readChunk(id: string): Promise<Buffer> {
    if (this.chunkCache?.id === id) return this.chunkCache.plaintext;
    const plaintext = await this.repository.readChunk(id);
    this.chunkCache = { id, plaintext };
    return plaintext;
  }

  private invalid(file: OpenIncremental, why: string): DrcError {
    return new DrcError('BACKUP_FAILED', `unable to read incremental file '${file.entry.path}' from the server: ${why}`, {
      hints: ['run a full backup (`drc backup --type full`); if this repeats, report it with the server version'],
    });
  }
}
