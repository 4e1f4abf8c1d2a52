import { Backend, parseDataRow, parseRowDescription, protocolError } from './protocol.js';
import type { PgServerError } from './server-error.js';

/**
 * One command in flight on a replication connection. The connection handles what is the
 * same for every command (ErrorResponse, notices, parameter status, ReadyForQuery) and
 * hands everything else to the command's responder.
 */
export interface Responder {
  /** Completes "unable to …" in error messages, e.g. "run BASE_BACKUP on db1:5432". */
  readonly action: string;
  /** Which CopyData sub-types this command receives as bulk payload (see FrameReader). */
  bulkHeadLength?(subtype: number): number | undefined;
  onMessage(type: number, body: Buffer): void | Promise<void>;
  onCopyPayload(head: Buffer, piece: Buffer, offset: number): void | Promise<void>;
  /** ReadyForQuery: the command is over; `error` is the ErrorResponse it ended with, if any. */
  complete(error: PgServerError | undefined): void;
  /** The connection broke, or a sink failed; no more messages will come. */
  abort(error: Error): void;
}

/** What a responder may do to the connection besides reading. */
export interface Wire {
  write(message: Buffer): void;
  /** Writes and waits until the socket has taken it (for uploads). */
  writeAndDrain(...messages: Buffer[]): Promise<void>;
}

export interface ResultSet {
  readonly columns: string[];
  /** Cells as raw bytes (text format), or null. */
  readonly rows: Array<Array<Buffer | null>>;
}

/** Collects RowDescription/DataRow/CommandComplete messages into result sets. */
export class ResultSetCollector {
  readonly sets: ResultSet[] = [];

  /** True when the message belonged to a result set. */
  accept(type: number, body: Buffer): boolean {
    switch (type) {
      case Backend.RowDescription:
        this.sets.push({ columns: parseRowDescription(body), rows: [] });
        return true;
      case Backend.DataRow: {
        const current = this.sets[this.sets.length - 1];
        if (current === undefined) throw protocolError('a data row before its row description');
        current.rows.push(parseDataRow(body));
        return true;
      }
      case Backend.CommandComplete:
      case Backend.EmptyQueryResponse:
        return true;
      default:
        return false;
    }
  }
}

export const cellText = (cell: Buffer | null | undefined): string | undefined => (cell === null || cell === undefined ? undefined : cell.toString('utf8'));

/** A promise with its settle functions, for responders that complete from message callbacks. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return { promise, resolve, reject };
}

/** A simple query's responder: every result set, once ReadyForQuery arrives. */
export class QueryResponder implements Responder {
  private readonly collector = new ResultSetCollector();
  private readonly result = deferred<ResultSet[]>();
  readonly done = this.result.promise;

  constructor(readonly action: string) {}

  onMessage(type: number, body: Buffer): void {
    if (!this.collector.accept(type, body)) throw protocolError(`message type '${String.fromCharCode(type)}' in reply to a simple command`);
  }

  onCopyPayload(): void {
    throw protocolError('COPY data in reply to a simple command');
  }

  complete(error: PgServerError | undefined): void {
    if (error === undefined) this.result.resolve(this.collector.sets);
    else this.result.reject(error);
  }

  abort(error: Error): void {
    this.result.reject(error);
  }
}
