import { DrcError } from '../../../shared/errors.js';
import type { Lsn } from '../lsn.js';

/**
 * PostgreSQL wire protocol 3.0: message type bytes, the frontend messages the replication
 * client sends, and decoders for the small backend messages it reads. Bulk data never
 * passes through here; see frames.ts.
 */
export const Backend = {
  Authentication: 0x52, // R
  BackendKeyData: 0x4b, // K
  ParameterStatus: 0x53, // S
  ReadyForQuery: 0x5a, // Z
  ErrorResponse: 0x45, // E
  NoticeResponse: 0x4e, // N
  NotificationResponse: 0x41, // A
  NegotiateProtocolVersion: 0x76, // v
  RowDescription: 0x54, // T
  DataRow: 0x44, // D
  CommandComplete: 0x43, // C
  EmptyQueryResponse: 0x49, // I
  CopyInResponse: 0x47, // G
  CopyOutResponse: 0x48, // H
  CopyBothResponse: 0x57, // W
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
} as const;

const PROTOCOL_VERSION_3 = 196608;

/** Milliseconds from the Unix epoch to PostgreSQL's, 2000-01-01 00:00 UTC. */
const POSTGRES_EPOCH_MS = 946_684_800_000;

function message(type: string, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

const cstring = (text: string): Buffer => Buffer.from(`${text}\0`, 'utf8');

export function startupMessage(parameters: Record<string, string>): Buffer {
  const pairs = Object.entries(parameters).flatMap(([key, value]) => [cstring(key), cstring(value)]);
  const body = Buffer.concat([...pairs, Buffer.from([0])]);
  const out = Buffer.allocUnsafe(8 + body.length);
  out.writeInt32BE(8 + body.length, 0);
  out.writeInt32BE(PROTOCOL_VERSION_3, 4);
  body.copy(out, 8);
  return out;
}

export const queryMessage = (sql: string): Buffer => message('Q', cstring(sql));
export const passwordMessage = (password: string): Buffer => message('p', cstring(password));
export const saslResponseMessage = (data: string): Buffer => message('p', Buffer.from(data, 'utf8'));

export function saslInitialResponseMessage(mechanism: string, data: string): Buffer {
  const payload = Buffer.from(data, 'utf8');
  const length = Buffer.allocUnsafe(4);
  length.writeInt32BE(payload.length, 0);
  return message('p', Buffer.concat([cstring(mechanism), length, payload]));
}

/** CopyData's 5-byte header alone, so a large payload can be written after it without a copy. */
export function copyDataHeader(payloadLength: number): Buffer {
  const out = Buffer.allocUnsafe(5);
  out[0] = 0x64;
  out.writeInt32BE(4 + payloadLength, 1);
  return out;
}

export const copyDoneMessage = (): Buffer => message('c', Buffer.alloc(0));
export const terminateMessage = (): Buffer => message('X', Buffer.alloc(0));

/** PostgreSQL's timestamp: microseconds since 2000-01-01 00:00 UTC. */
function postgresNow(): bigint {
  return BigInt(Date.now() - POSTGRES_EPOCH_MS) * 1000n;
}

export function dateFromPostgres(micros: bigint): Date {
  return new Date(Number(micros / 1000n) + POSTGRES_EPOCH_MS);
}

/** Standby status update ('r'): what the client has written, flushed and applied. */
export function standbyStatusMessage(write: Lsn, flush: Lsn, apply: Lsn, replyRequested: boolean): Buffer {
  const body = Buffer.allocUnsafe(34);
  body[0] = 0x72; // r
  body.writeBigUInt64BE(write, 1);
  body.writeBigUInt64BE(flush, 9);
  body.writeBigUInt64BE(apply, 17);
  body.writeBigInt64BE(postgresNow(), 25);
  body[33] = replyRequested ? 1 : 0;
  return message('d', body);
}

export function protocolError(what: string): DrcError {
  return new DrcError('PG_PROTOCOL', `unable to read the server's reply: ${what}`, {
    hints: ['the server sent something this client does not understand; check the server log and that host/port point at PostgreSQL 15 or newer'],
  });
}

/** A NUL-terminated string at `offset`, and the offset after its terminator. */
export function readCString(body: Buffer, offset: number): { value: string; next: number } {
  const end = body.indexOf(0, offset);
  if (end < 0) throw protocolError('a string without its terminator');
  return { value: body.toString('utf8', offset, end), next: end + 1 };
}

/** ErrorResponse / NoticeResponse: one-letter field codes (S, V, C, M, D, H, …) and their text. */
export function parseNoticeFields(body: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const code = String.fromCharCode(body[offset] ?? 0);
    const { value, next } = readCString(body, offset + 1);
    fields.set(code, value);
    offset = next;
  }
  return fields;
}

export function parseRowDescription(body: Buffer): string[] {
  const count = body.readInt16BE(0);
  const names: string[] = [];
  let offset = 2;
  for (let index = 0; index < count; index++) {
    const { value, next } = readCString(body, offset);
    names.push(value);
    offset = next + 18; // table oid, column number, type oid, type size, type modifier, format
  }
  return names;
}

/** DataRow: each cell as a slice of the message (raw bytes), or null. */
export function parseDataRow(body: Buffer): Array<Buffer | null> {
  const count = body.readInt16BE(0);
  const cells: Array<Buffer | null> = [];
  let offset = 2;
  for (let index = 0; index < count; index++) {
    const length = body.readInt32BE(offset);
    offset += 4;
    if (length < 0) {
      cells.push(null);
    } else {
      cells.push(body.subarray(offset, offset + length));
      offset += length;
    }
  }
  return cells;
}
