import { DrcError } from '../../../shared/errors.js';

/**
 * Zero-copy reader of PostgreSQL backend messages (type byte, int32 length, body).
 *
 * Frames are cut straight out of the socket's chunks: a message that lies inside one
 * chunk is handed over as a slice of it. Only a message split across chunks is copied
 * into a buffer of its own, and bulk CopyData (archive data, WAL) is not copied even
 * then: its payload is handed over piece by piece, in order, as the chunks arrive.
 *
 * A handler may return a promise; the reader then stops where it is and resumes once the
 * promise settles, so the caller can pause the socket meanwhile (backpressure).
 */
export interface FrameHandler {
  /** A whole message: its type byte and its body (without the 5-byte header). */
  onMessage(type: number, body: Buffer): void | Promise<void>;
  /**
   * Payload of a bulk CopyData message (see `bulkHeadLength`). `head` is the first bytes
   * of the CopyData body (sub-type byte and fixed header), the same for every piece of a
   * message; `piece` is the next run of payload after it, starting `offset` bytes into
   * the payload. A message whose payload is empty is reported once with an empty piece.
   */
  onCopyPayload(head: Buffer, piece: Buffer, offset: number): void | Promise<void>;
}

/**
 * Which CopyData sub-types carry bulk payload, and how long their fixed head is (the
 * sub-type byte included). `undefined`: a small message, delivered whole.
 */
export type BulkHeadLength = (subtype: number) => number | undefined;

const COPY_DATA = 0x64; // 'd'
const HEADER_BYTES = 5;
/**
 * As libpq: only these message types may be long (row data, copy data, errors, notices,
 * notifications). A longer one of another type means the peer is not PostgreSQL, and
 * waiting for its "body" would hang.
 */
const LONG_TYPES = new Set([0x54, 0x44, 0x64, 0x45, 0x4e, 0x41]); // T D d E N A
const SHORT_MESSAGE_LIMIT = 30_000;

const enum State {
  Header,
  /** A split CopyData message whose head is not complete yet. */
  CopyHead,
  /** A split bulk CopyData message: head known, payload streaming. */
  CopyPayload,
  /** A split message being copied into a buffer of its own. */
  Assemble,
}

export class FrameReader {
  private state = State.Header;
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerFill = 0;
  private type = 0;
  private bodyLength = 0;
  /** Bytes of the current (split) message's body consumed so far. */
  private consumed = 0;
  private assembly: Buffer = Buffer.alloc(0);
  private head: Buffer = Buffer.alloc(0);
  private chunk: Buffer = Buffer.alloc(0);
  private position = 0;
  private aborted = false;

  constructor(
    private readonly handler: FrameHandler,
    private readonly bulkHeadLength: BulkHeadLength,
  ) {}

  /**
   * Reads every message in `chunk`. Returns a promise when a handler asked to wait: the
   * rest of the chunk is read after it settles, and the promise resolves once the whole
   * chunk is done. The caller must not push the next chunk before that.
   */
  push(chunk: Buffer): Promise<void> | undefined {
    this.chunk = chunk;
    this.position = 0;
    return this.drain();
  }

  /** Stops reading: the rest of the current chunk, and any waiting work, is dropped. */
  abort(): void {
    this.aborted = true;
    this.chunk = Buffer.alloc(0);
    this.position = 0;
  }

  /** True between messages: nothing of a message is held back waiting for more bytes. */
  get idle(): boolean {
    return this.state === State.Header && this.headerFill === 0;
  }

  private drain(): Promise<void> | undefined {
    const chunk = this.chunk;
    while (!this.aborted && this.position < chunk.length) {
      const waiting = this.state === State.Header ? this.readHeader(chunk) : this.continueSplit(chunk);
      if (waiting !== undefined) return waiting.then(() => this.drain());
    }
    return undefined;
  }

  /** Starts the next message; delivers it at once when its whole body is in this chunk. */
  private readHeader(chunk: Buffer): Promise<void> | undefined {
    let length: number;
    if (this.headerFill === 0 && chunk.length - this.position >= HEADER_BYTES) {
      this.type = chunk[this.position] ?? 0;
      length = chunk.readInt32BE(this.position + 1);
      this.position += HEADER_BYTES;
    } else {
      const take = Math.min(HEADER_BYTES - this.headerFill, chunk.length - this.position);
      chunk.copy(this.header, this.headerFill, this.position, this.position + take);
      this.headerFill += take;
      this.position += take;
      if (this.headerFill < HEADER_BYTES) return undefined;
      this.headerFill = 0;
      this.type = this.header[0] ?? 0;
      length = this.header.readInt32BE(1);
    }
    if (length < 4 || (length > SHORT_MESSAGE_LIMIT && !LONG_TYPES.has(this.type))) {
      throw new DrcError('PG_PROTOCOL', `unable to read a message from the server: type 0x${this.type.toString(16)} declares length ${String(length)}`, {
        hints: ['the peer does not speak the PostgreSQL protocol, or the stream is corrupt; check host and port'],
      });
    }
    this.bodyLength = length - 4;
    const available = chunk.length - this.position;
    if (available >= this.bodyLength) {
      const body = chunk.subarray(this.position, this.position + this.bodyLength);
      this.position += this.bodyLength;
      return this.deliverWhole(body);
    }
    this.consumed = 0;
    if (this.type === COPY_DATA) {
      this.state = State.CopyHead;
      this.head = Buffer.alloc(0);
    } else {
      this.beginAssembly();
    }
    return this.continueSplit(chunk);
  }

  private deliverWhole(body: Buffer): Promise<void> | undefined {
    if (this.type === COPY_DATA && body.length > 0) {
      const headLength = this.bulkHeadLength(body[0] ?? 0);
      if (headLength !== undefined) {
        if (body.length < headLength) throw this.shortCopyData(body.length, headLength);
        return this.settle(this.handler.onCopyPayload(body.subarray(0, headLength), body.subarray(headLength), 0));
      }
    }
    return this.settle(this.handler.onMessage(this.type, body));
  }

  private continueSplit(chunk: Buffer): Promise<void> | undefined {
    const remaining = this.bodyLength - this.consumed;
    const available = Math.min(remaining, chunk.length - this.position);
    switch (this.state) {
      case State.Assemble: {
        chunk.copy(this.assembly, this.consumed, this.position, this.position + available);
        this.position += available;
        this.consumed += available;
        if (this.consumed < this.bodyLength) return undefined;
        this.state = State.Header;
        const body = this.assembly;
        this.assembly = Buffer.alloc(0);
        return this.deliverWhole(body);
      }
      case State.CopyHead: {
        if (available === 0) return undefined;
        if (this.head.length === 0) {
          const headLength = this.bulkHeadLength(chunk[this.position] ?? 0);
          if (headLength === undefined) {
            this.beginAssembly();
            return this.continueSplit(chunk);
          }
          if (this.bodyLength < headLength) throw this.shortCopyData(this.bodyLength, headLength);
          // Usually the whole head is in this chunk: keep a slice of it, not a copy.
          if (available >= headLength) {
            this.head = chunk.subarray(this.position, this.position + headLength);
            this.position += headLength;
            this.consumed = headLength;
            this.state = State.CopyPayload;
            return this.continueSplit(chunk);
          }
          this.head = Buffer.alloc(headLength);
        }
        const take = Math.min(this.head.length - this.consumed, available);
        chunk.copy(this.head, this.consumed, this.position, this.position + take);
        this.position += take;
        this.consumed += take;
        if (this.consumed < this.head.length) return undefined;
        this.state = State.CopyPayload;
        return this.continueSplit(chunk);
      }
      case State.CopyPayload: {
        const piece = chunk.subarray(this.position, this.position + available);
        const offset = this.consumed - this.head.length;
        this.position += available;
        this.consumed += available;
        if (this.consumed === this.bodyLength) this.state = State.Header;
        if (piece.length === 0 && !(offset === 0 && this.state === State.Header)) return undefined;
        return this.settle(this.handler.onCopyPayload(this.head, piece, offset));
      }
      case State.Header:
        return undefined;
    }
  }

  /** Copies what has been read of the current message (a CopyData sub-type byte, at most) into a new buffer. */
  private beginAssembly(): void {
    this.assembly = Buffer.allocUnsafe(this.bodyLength);
    this.head.copy(this.assembly, 0, 0, this.consumed);
    this.state = State.Assemble;
  }

  private settle(result: void | Promise<void>): Promise<void> | undefined {
    return result instanceof Promise ? result : undefined;
  }

  private shortCopyData(length: number, headLength: number): DrcError {
    return new DrcError('PG_PROTOCOL', `unable to read a CopyData message from the server: ${String(length)} bytes, shorter than its ${String(headLength)}-byte header`, {
      hints: ['the server sent a malformed replication message; check the server log'],
    });
  }
}
