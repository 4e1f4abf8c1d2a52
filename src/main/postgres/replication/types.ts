import type { Lsn } from '../lsn.js';
import type { TlsSettings } from '../tls.js';

/**
 * The replication client's surface, as the backup engine and the WAL archiver use it.
 * Everything streams: data arrives in the sink as slices of the socket's buffers (no
 * copies), and a sink that returns a promise pauses the socket until it settles, so a
 * slow repository applies backpressure all the way to the server.
 */
export interface ReplicationConnectionOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly password?: string;
  readonly applicationName?: string;
  readonly connectTimeoutMs?: number;
  /** sslmode and certificates (postgres/tls.ts); none means a plain connection. */
  readonly tls?: TlsSettings;
}

export interface SystemIdentity {
  /** pg_control's system identifier, as a decimal string (it exceeds 2^53). */
  readonly systemId: string;
  readonly timeline: number;
  readonly walPosition: Lsn;
}

export interface BaseBackupOptions {
  readonly label: string;
  /** Ask for an immediate checkpoint instead of waiting for the next spread one. */
  readonly fastCheckpoint: boolean;
  /** Include the WAL needed to make the backup consistent, under pg_wal/ in the main archive. */
  readonly includeWal: boolean;
  /**
   * PostgreSQL 17+: the previous backup's backup_manifest. The client uploads it
   * (UPLOAD_MANIFEST) and asks for INCREMENTAL; relation files then arrive as
   * `INCREMENTAL.<name>` files holding only changed blocks.
   */
  readonly incrementalFrom?: Buffer;
}

export interface BaseBackupStart {
  readonly startLsn: Lsn;
  readonly timeline: number;
  readonly tablespaces: ReadonlyArray<{ readonly oid: number | undefined; readonly location: string | undefined; readonly sizeKiB: number | undefined }>;
}

export interface BaseBackupEnd {
  readonly endLsn: Lsn;
  readonly timeline: number;
}

export interface BaseBackupSink {
  onStart(start: BaseBackupStart): void | Promise<void>;
  /** A new tar archive begins: `base.tar` for the main data directory, `<oid>.tar` per tablespace. */
  onArchive(name: string, tablespaceLocation: string | undefined): void | Promise<void>;
  /** Tar bytes of the current archive, in order. The buffer is only valid until the promise settles. */
  onArchiveData(data: Buffer): void | Promise<void>;
  /** Bytes the server has sent so far (its own count), for progress. */
  onProgress(bytesDone: bigint): void;
  /** The server's backup_manifest (JSON), in pieces. */
  onManifestData(data: Buffer): void | Promise<void>;
}

export interface WalSink {
  /** WAL bytes starting at `start`. Only valid until the returned promise settles. */
  onWalData(start: Lsn, data: Buffer): void | Promise<void>;
  /** The server's current end of WAL, from keepalives and data messages. */
  onServerPosition?(serverEnd: Lsn, serverTime: Date): void;
}

export interface ReplicationStreamEnd {
  /** Set when the server ended the stream because its timeline ended (promotion). */
  readonly nextTimeline?: { readonly timeline: number; readonly startLsn: Lsn };
}

export interface ReplicationStream {
  /**
   * Tell the server what is safely stored: it may then recycle WAL (and move the slot)
   * up to `flushed`. Also sent automatically in reply to keepalives that ask for it.
   */
  confirm(flushed: Lsn): void;
  /** Ends the stream cleanly (CopyDone) and resolves when the server has acknowledged. */
  stop(): Promise<void>;
  /** Resolves when the stream ends (stop(), end of timeline); rejects on a broken connection. */
  readonly finished: Promise<ReplicationStreamEnd>;
}

export interface ReplicationSlot {
  readonly name: string;
  readonly restartLsn: Lsn | undefined;
  readonly timeline: number | undefined;
}
