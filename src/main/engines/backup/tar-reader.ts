import { DrcError } from '../../../shared/errors.js';

/**
 * A streaming reader for the tar archives BASE_BACKUP sends (ustar, as PostgreSQL writes
 * them, plus pax and GNU long names in case a server or a future version uses them).
 * Bytes go in as they arrive; file entries and their contents come out as slices of the
 * input, without copying.
 */
export interface TarEntry {
  readonly path: string;
  readonly type: 'file' | 'directory' | 'symlink';
  readonly size: number;
  readonly mode: number;
  readonly mtime: Date;
  readonly linkTarget: string;
}

export interface TarSink {
  onEntry(entry: TarEntry): void | Promise<void>;
  /** Content of the current file entry, in order; `data` is valid until the promise settles. */
  onData(data: Buffer): void | Promise<void>;
  onEntryEnd(entry: TarEntry): void | Promise<void>;
}

const block = 512;

export class TarReader {
  private header = Buffer.alloc(block);
  private headerFill = 0;
  private current: TarEntry | undefined;
  private remaining = 0;
  private padding = 0;
  private longName: string | undefined;
  private paxPath: string | undefined;
  /** Metadata entries (pax, GNU long name) are read into memory, they are small. */
  private metadata: { kind: 'pax' | 'longname'; parts: Buffer[]; remaining: number } | undefined;
  private finished = false;

  constructor(
    private readonly archive: string,
    private readonly sink: TarSink,
  ) {}

  async push(data: Buffer): Promise<void> {
    let offset = 0;
    while (offset < data.length) {
      if (this.metadata) {
        const take = Math.min(this.metadata.remaining, data.length - offset);
        this.metadata.parts.push(Buffer.from(data.subarray(offset, offset + take)));
        this.metadata.remaining -= take;
        offset += take;
        if (this.metadata.remaining === 0) this.finishMetadata();
        continue;
      }
      if (this.current) {
        const take = Math.min(this.remaining, data.length - offset);
        if (take > 0) await this.sink.onData(data.subarray(offset, offset + take));
        this.remaining -= take;
        offset += take;
        if (this.remaining === 0) await this.endEntry();
        continue;
      }
      // Content is padded to a whole 512-byte block; the padding follows the content.
      if (this.padding > 0) {
        const skip = Math.min(this.padding, data.length - offset);
        this.padding -= skip;
        offset += skip;
        continue;
      }
      // Assemble a 512-byte header (it may straddle two network reads).
      const take = Math.min(block - this.headerFill, data.length - offset);
      data.copy(this.header, this.headerFill, offset, offset + take);
      this.headerFill += take;
      offset += take;
      if (this.headerFill === block) {
        this.headerFill = 0;
        await this.startEntry();
      }
    }
  }

  /** Called after the last byte: the archive must have ended on an entry boundary. */
  finish(): void {
    if (this.current || this.metadata || this.headerFill !== 0) {
      throw new DrcError('BACKUP_FAILED', `unable to read archive '${this.archive}' of the base backup: it ended in the middle of ${this.current ? `file '${this.current.path}'` : 'an entry header'}`, {
        hints: ['the connection to the server was interrupted; run the backup again'],
      });
    }
  }

  private async startEntry(): Promise<void> {
    if (this.finished || this.header.every((byte) => byte === 0)) {
      // Two zero blocks end the archive; anything after them is ignored.
      this.finished = true;
      return;
    }
    this.verifyChecksum();
    const typeFlag = String.fromCharCode(this.header[156] ?? 0);
    const size = this.readOctal(124, 12);
    if (typeFlag === 'x' || typeFlag === 'L') {
      this.metadata = { kind: typeFlag === 'x' ? 'pax' : 'longname', parts: [], remaining: size };
      this.padding = (block - (size % block)) % block;
      if (size === 0) this.finishMetadata();
      return;
    }
    const name = this.readString(0, 100);
    const prefix = this.readString(345, 155);
    const path = this.paxPath ?? this.longName ?? (prefix ? `${prefix}/${name}` : name);
    this.paxPath = undefined;
    this.longName = undefined;
    const type = typeFlag === '5' ? 'directory' : typeFlag === '2' ? 'symlink' : typeFlag === '0' || typeFlag === '\0' ? 'file' : undefined;
    if (type === undefined) {
      throw new DrcError('BACKUP_FAILED', `unable to read entry '${path}' of archive '${this.archive}': unsupported tar entry type '${typeFlag}'`);
    }
    const entry: TarEntry = {
      path: path.replace(/\/+$/, ''),
      type,
      size: type === 'file' ? size : 0,
      mode: this.readOctal(100, 8),
      mtime: new Date(this.readOctal(136, 12) * 1000),
      linkTarget: this.readString(157, 100),
    };
    await this.sink.onEntry(entry);
    this.current = entry;
    this.remaining = entry.size;
    this.padding = (block - (entry.size % block)) % block;
    if (this.remaining === 0) await this.endEntry();
  }

  private async endEntry(): Promise<void> {
    const entry = this.current;
    this.current = undefined;
    if (entry) await this.sink.onEntryEnd(entry);
  }

  private finishMetadata(): void {
    const metadata = this.metadata;
    this.metadata = undefined;
    if (!metadata) return;
    const text = Buffer.concat(metadata.parts).toString('utf8');
    if (metadata.kind === 'longname') {
      this.longName = text.replace(/\0.*$/s, '');
      return;
    }
    // pax records: "<length> <key>=<value>\n"
    for (const record of text.split('\n')) {
      const match = /^\d+ path=(.*)$/s.exec(record);
      if (match?.[1] !== undefined) this.paxPath = match[1];
    }
  }

  private verifyChecksum(): void {
    let sum = 0;
    for (let i = 0; i < block; i++) sum += i >= 148 && i < 156 ? 32 : (this.header[i] ?? 0);
    if (sum !== this.readOctal(148, 8)) {
      throw new DrcError('BACKUP_FAILED', `unable to read archive '${this.archive}' of the base backup: a tar header has a bad checksum`, {
        hints: ['the stream from the server was damaged; run the backup again'],
      });
    }
  }

  private readString(offset: number, length: number): string {
    const field = this.header.subarray(offset, offset + length);
    const end = field.indexOf(0);
    return field.subarray(0, end === -1 ? length : end).toString('utf8');
  }

  private readOctal(offset: number, length: number): number {
    const first = this.header[offset] ?? 0;
    if (first & 0x80) {
      // GNU base-256 for sizes above 8 GiB.
      let value = 0;
      for (let i = 1; i < length; i++) value = value * 256 + (this.header[offset + i] ?? 0);
      return value;
    }
    const text = this.readString(offset, length).trim();
    return text === '' ? 0 : parseInt(text, 8);
  }
}
