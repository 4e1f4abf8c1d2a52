import { parseLsn } from '../lsn.js';
import { Backend, copyDataHeader, copyDoneMessage, protocolError, readCString } from './protocol.js';
import { cellText, deferred, ResultSetCollector, type Responder, type ResultSet, type Wire } from './responder.js';
import type { PgServerError } from './server-error.js';
import type { BaseBackupEnd, BaseBackupOptions, BaseBackupSink, BaseBackupStart } from './types.js';

/** A string literal in the replication command grammar. */
const quoteLiteral = (text: string): string => `'${text.replaceAll("'", "''")}'`;

/**
 * BASE_BACKUP in the PostgreSQL 15+ option syntax. Checksums in the manifest are CRC32C:
 * cheap for the server, and enough to verify a restore (the repository has its own
 * cryptographic hashes). TABLESPACE_MAP puts tablespace locations in a file, so a restore
 * can relocate them.
 */
export function baseBackupCommand(options: BaseBackupOptions): string {
  const parts = [
    `LABEL ${quoteLiteral(options.label)}`,
    'PROGRESS',
    `CHECKPOINT ${options.fastCheckpoint ? "'fast'" : "'spread'"}`,
    `WAL ${options.includeWal ? 'true' : 'false'}`,
    "MANIFEST 'yes'",
    "MANIFEST_CHECKSUMS 'CRC32C'",
    'TABLESPACE_MAP',
  ];
  if (options.incrementalFrom !== undefined) parts.push('INCREMENTAL');
  return `BASE_BACKUP (${parts.join(', ')})`;
}

const SUBTYPE_NEW_ARCHIVE = 0x6e; // n
const SUBTYPE_DATA = 0x64; // d
const SUBTYPE_PROGRESS = 0x70; // p
const SUBTYPE_MANIFEST = 0x6d; // m

function xlogResult(set: ResultSet | undefined, what: string): { lsn: bigint; timeline: number } {
  const row = set?.rows[0];
  const lsn = cellText(row?.[0]);
  const timeline = cellText(row?.[1]);
  if (lsn === undefined || timeline === undefined) throw protocolError(`BASE_BACKUP without its ${what} position`);
  return { lsn: parseLsn(lsn), timeline: Number(timeline) };
}

const optionalNumber = (cell: Buffer | null | undefined): number | undefined => {
  const text = cellText(cell);
  return text === undefined ? undefined : Number(text);
};

/**
 * The reply to BASE_BACKUP: a result set with the start position, one with the
 * tablespaces, then one COPY stream of archives ('n' new archive, 'd' data, 'p' progress,
 * 'm' manifest follows), then a result set with the end position.
 */
export class BaseBackupResponder implements Responder {
  private readonly before = new ResultSetCollector();
  private readonly after = new ResultSetCollector();
  private phase: 'start' | 'copy' | 'end' = 'start';
  private target: 'none' | 'archive' | 'manifest' = 'none';
  private readonly result = deferred<BaseBackupEnd>();
  readonly done = this.result.promise;

  constructor(
    readonly action: string,
    private readonly sink: BaseBackupSink,
  ) {}

  onMessage(type: number, body: Buffer): void | Promise<void> {
    if (this.phase === 'copy') {
      if (type === Backend.CopyData) return this.onCopyMessage(body);
      if (type === Backend.CopyDone) {
        this.phase = 'end';
        return undefined;
      }
    } else if (this.phase === 'start') {
      if (this.before.accept(type, body)) return undefined;
      if (type === Backend.CopyOutResponse) {
        this.phase = 'copy';
        return this.sink.onStart(this.start());
      }
    } else if (this.after.accept(type, body)) {
      return undefined;
    }
    throw protocolError(`message type '${String.fromCharCode(type)}' during BASE_BACKUP (${this.phase})`);
  }

  /** Archive and manifest data ('d') stream through; its head is the type byte alone. */
  bulkHeadLength(subtype: number): number | undefined {
    return subtype === SUBTYPE_DATA ? 1 : undefined;
  }

  onCopyPayload(_head: Buffer, piece: Buffer): void | Promise<void> {
    if (piece.length === 0) return undefined;
    if (this.target === 'archive') return this.sink.onArchiveData(piece);
    if (this.target === 'manifest') return this.sink.onManifestData(piece);
    throw protocolError('BASE_BACKUP data before any archive began');
  }

  complete(error: PgServerError | undefined): void {
    if (error !== undefined) {
      this.result.reject(error);
      return;
    }
    try {
      const end = xlogResult(this.after.sets[0], 'end');
      this.result.resolve({ endLsn: end.lsn, timeline: end.timeline });
    } catch (failure) {
      this.result.reject(failure as Error);
    }
  }

  abort(error: Error): void {
    this.result.reject(error);
  }

  private start(): BaseBackupStart {
    const { lsn, timeline } = xlogResult(this.before.sets[0], 'start');
    const tablespaces = (this.before.sets[1]?.rows ?? []).map((row) => ({
      oid: optionalNumber(row[0]),
      location: cellText(row[1]),
      sizeKiB: optionalNumber(row[2]),
    }));
    return { startLsn: lsn, timeline, tablespaces };
  }

  private onCopyMessage(body: Buffer): void | Promise<void> {
    switch (body[0]) {
      case SUBTYPE_NEW_ARCHIVE: {
        const name = readCString(body, 1);
        const location = readCString(body, name.next).value;
        this.target = 'archive';
        return this.sink.onArchive(name.value, location === '' ? undefined : location);
      }
      case SUBTYPE_PROGRESS:
        this.sink.onProgress(body.readBigInt64BE(1));
        return undefined;
      case SUBTYPE_MANIFEST:
        this.target = 'manifest';
        return undefined;
      default:
        // A data message ('d') always comes through onCopyPayload; anything else is new to us.
        throw protocolError(`BASE_BACKUP stream message of unknown type 0x${(body[0] ?? 0).toString(16)}`);
    }
  }
}

/** Largest CopyData message sent when uploading a manifest. */
const UPLOAD_PIECE_BYTES = 1024 * 1024;

/** UPLOAD_MANIFEST (PostgreSQL 17+): CopyInResponse, then the manifest as CopyData, then CopyDone. */
export class UploadManifestResponder implements Responder {
  private readonly result = deferred<undefined>();
  readonly done = this.result.promise;

  constructor(
    readonly action: string,
    private readonly wire: Wire,
    private readonly manifest: Buffer,
  ) {}

  onMessage(type: number): void | Promise<void> {
    if (type === Backend.CopyInResponse) return this.upload();
    if (type === Backend.CommandComplete) return undefined;
    throw protocolError(`message type '${String.fromCharCode(type)}' during UPLOAD_MANIFEST`);
  }

  onCopyPayload(): void {
    throw protocolError('COPY data in reply to UPLOAD_MANIFEST');
  }

  complete(error: PgServerError | undefined): void {
    if (error === undefined) this.result.resolve(undefined);
    else this.result.reject(error);
  }

  abort(error: Error): void {
    this.result.reject(error);
  }

  private async upload(): Promise<void> {
    for (let offset = 0; offset < this.manifest.length; offset += UPLOAD_PIECE_BYTES) {
      const piece = this.manifest.subarray(offset, offset + UPLOAD_PIECE_BYTES);
      await this.wire.writeAndDrain(copyDataHeader(piece.length), piece);
    }
    await this.wire.writeAndDrain(copyDoneMessage());
  }
}
