import { DrcError } from '../../../shared/errors.js';
import { formatLsn, parseLsn, type Lsn } from '../lsn.js';
import { Backend, copyDoneMessage, dateFromPostgres, protocolError, standbyStatusMessage } from './protocol.js';
import { cellText, deferred, ResultSetCollector, type Responder, type Wire } from './responder.js';
import type { PgServerError } from './server-error.js';
import type { ReplicationStream, ReplicationStreamEnd, WalSink } from './types.js';

const SUBTYPE_XLOG_DATA = 0x77; // w
const SUBTYPE_KEEPALIVE = 0x6b; // k
/** 'w', then start, end and send time as int64s. */
const XLOG_DATA_HEAD_BYTES = 25;

/** How often the client reports its position without being asked (the server's wal_sender_timeout defaults to 60 s). */
const STATUS_INTERVAL_MS = 10_000;

/**
 * START_REPLICATION … PHYSICAL: a CopyBoth stream of XLogData ('w') and keepalives ('k')
 * from the server, standby status updates ('r') from the client. It ends with CopyDone in
 * both directions, then, when the server ended it because the timeline ended, a result
 * set naming the next timeline and where it starts.
 */
export class WalStream implements ReplicationStream, Responder {
  private readonly result = deferred<ReplicationStreamEnd>();
  readonly finished = this.result.promise;
  private readonly trailer = new ResultSetCollector();
  private state: 'requested' | 'streaming' | 'ending' | 'over' = 'requested';
  private stopRequested = false;
  private sentCopyDone = false;
  /** End of the WAL the sink has accepted; reported to the server as written. */
  private written: Lsn = 0n;
  private flushed: Lsn = 0n;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly action: string,
    private readonly wire: Wire,
    private readonly sink: WalSink,
  ) {
    // A caller that ends the stream with stop() and never awaits `finished` must not crash the process.
    void this.finished.catch(() => undefined);
  }

  confirm(flushed: Lsn): void {
    if (flushed <= this.flushed) return;
    this.flushed = flushed;
    if (this.state === 'streaming' && !this.sentCopyDone) this.sendStatus();
  }

  /**
   * Sends CopyDone (at once, or as soon as streaming begins) and resolves when the stream
   * is over. It does not reject: how the stream ended, error included, is `finished`'s.
   */
  async stop(): Promise<void> {
    this.stopRequested = true;
    if (this.state === 'streaming') this.endCopy();
    await this.finished.catch(() => undefined);
  }

  onMessage(type: number, body: Buffer): void | Promise<void> {
    switch (type) {
      case Backend.CopyBothResponse:
        this.state = 'streaming';
        this.timer = setInterval(() => this.sendStatus(), STATUS_INTERVAL_MS);
        this.timer.unref();
        if (this.stopRequested) this.endCopy();
        return undefined;
      case Backend.CopyData:
        if (body[0] === SUBTYPE_KEEPALIVE) return this.onKeepalive(body);
        throw protocolError(`WAL stream message of unknown type 0x${(body[0] ?? 0).toString(16)}`);
      case Backend.CopyDone:
        // The server is done (end of timeline, or our CopyDone acknowledged): answer in kind.
        this.state = 'ending';
        this.endCopy();
        return undefined;
      default:
        if (this.trailer.accept(type, body)) return undefined;
        throw protocolError(`message type '${String.fromCharCode(type)}' during START_REPLICATION`);
    }
  }

  /** XLogData streams through; its head is the type byte and three int64s. */
  bulkHeadLength(subtype: number): number | undefined {
    return subtype === SUBTYPE_XLOG_DATA ? XLOG_DATA_HEAD_BYTES : undefined;
  }

  onCopyPayload(head: Buffer, piece: Buffer, offset: number): void | Promise<void> {
    const walStart = head.readBigUInt64BE(1);
    if (offset === 0) this.sink.onServerPosition?.(head.readBigUInt64BE(9), dateFromPostgres(head.readBigInt64BE(17)));
    if (piece.length === 0) return undefined;
    const start = walStart + BigInt(offset);
    const end = start + BigInt(piece.length);
    const accepted = this.sink.onWalData(start, piece);
    if (accepted === undefined) {
      this.written = end;
      return undefined;
    }
    return accepted.then(() => {
      this.written = end;
    });
  }

  complete(error: PgServerError | undefined): void {
    this.finish();
    if (error !== undefined) {
      this.result.reject(error);
      return;
    }
    // Without CopyBoth the server had nothing to send: the requested start is the timeline's end.
    const row = this.trailer.sets[0]?.rows[0];
    const timeline = cellText(row?.[0]);
    const startLsn = cellText(row?.[1]);
    this.result.resolve(timeline === undefined || startLsn === undefined ? {} : { nextTimeline: { timeline: Number(timeline), startLsn: parseLsn(startLsn) } });
  }

  abort(error: Error): void {
    this.finish();
    this.result.reject(error);
  }

  private onKeepalive(body: Buffer): void {
    if (body.length < 18) throw protocolError('a keepalive message shorter than 18 bytes');
    this.sink.onServerPosition?.(body.readBigUInt64BE(1), dateFromPostgres(body.readBigInt64BE(9)));
    if (body[17] === 1) this.sendStatus();
  }

  private sendStatus(): void {
    if (this.sentCopyDone) return;
    const write = this.written > this.flushed ? this.written : this.flushed;
    // Apply stays invalid (0): nothing replays this WAL, as with pg_receivewal.
    this.wire.write(standbyStatusMessage(write, this.flushed, 0n, false));
  }

  private endCopy(): void {
    if (this.sentCopyDone) return;
    this.sendStatus();
    this.sentCopyDone = true;
    this.wire.write(copyDoneMessage());
  }

  private finish(): void {
    this.state = 'over';
    clearInterval(this.timer);
  }
}

export function startReplicationCommand(slot: string | undefined, start: Lsn, timeline: number): string {
  if (!Number.isInteger(timeline) || timeline < 1) throw new DrcError('USAGE', `unable to start streaming WAL: timeline ${String(timeline)} is not a timeline id`);
  return `START_REPLICATION ${slot === undefined ? '' : `SLOT ${slot} `}PHYSICAL ${formatLsn(start)} TIMELINE ${String(timeline)}`;
}
