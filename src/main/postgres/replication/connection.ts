import { connect as netConnect, type Socket } from 'node:net';
import { DrcError } from '../../../shared/errors.js';
import { parseLsn, type Lsn } from '../lsn.js';
import { asksForTlsFirst, isLoginRefusal, negotiateTls, refusedWithoutTls, TLS_ONLY_HINT } from '../tls.js';
import { Authenticator } from './auth.js';
import { BaseBackupResponder, baseBackupCommand, UploadManifestResponder } from './base-backup.js';
import { FrameReader } from './frames.js';
import { Backend, parseNoticeFields, protocolError, queryMessage, readCString, startupMessage, terminateMessage } from './protocol.js';
import { cellText, deferred, QueryResponder, type Responder, type ResultSet, type Wire } from './responder.js';
import { PgServerError, serverError } from './server-error.js';
import type {
  BaseBackupEnd,
  BaseBackupOptions,
  BaseBackupSink,
  ReplicationConnectionOptions,
  ReplicationSlot,
  ReplicationStream,
  SystemIdentity,
  WalSink,
} from './types.js';
import { startReplicationCommand, WalStream } from './wal-stream.js';

/** The oldest server this client speaks to: BASE_BACKUP's option syntax and one-stream reply are 15+. */
export const MIN_SERVER_VERSION = 150000;
const INCREMENTAL_SERVER_VERSION = 170000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface ServerNotice {
  readonly severity: string;
  readonly sqlState: string;
  readonly message: string;
  readonly detail: string | undefined;
  readonly hint: string | undefined;
}

/**
 * A PostgreSQL replication connection (`replication=database`) over a socket, TLS as `sslmode` says (postgres/tls.ts):
 * IDENTIFY_SYSTEM, SHOW, slots, TIMELINE_HISTORY, BASE_BACKUP and START_REPLICATION.
 * One command runs at a time. Bulk data (archives, WAL) reaches the sinks as slices of
 * the socket's own buffers; a sink that returns a promise pauses the socket until it
 * settles. If a sink fails, the command fails with the sink's error and the connection
 * is closed, since the server cannot be stopped mid-stream any other way.
 */
export class ReplicationConnection {
  /** Called for each NoticeResponse (e.g. a WARNING during BASE_BACKUP). */
  onNotice: ((notice: ServerNotice) => void) | undefined;

  private readonly reader: FrameReader;
  private readonly parameters = new Map<string, string>();
  private readonly wire: Wire;
  private current: Responder | undefined;
  private started = false;
  private closed = false;
  /** A FATAL ErrorResponse, reported when the server then closes the connection. */
  private fatal: PgServerError | undefined;
  private commandError: PgServerError | undefined;
  private socketError: NodeJS.ErrnoException | undefined;
  private readonly backlog: Buffer[] = [];
  private waiting = false;

  private constructor(
    private readonly socket: Socket,
    private readonly options: ReplicationConnectionOptions,
  ) {
    this.reader = new FrameReader(
      {
        onMessage: (type, body) => this.onMessage(type, body),
        onCopyPayload: (head, piece, offset) => {
          if (this.current === undefined) throw protocolError('COPY data with no command running');
          return this.current.onCopyPayload(head, piece, offset);
        },
      },
      (subtype) => this.current?.bulkHeadLength?.(subtype),
    );
    this.wire = {
      write: (message) => {
        if (!this.closed) this.socket.write(message);
      },
      writeAndDrain: (...messages) => this.writeAndDrain(messages),
    };
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.socketError = error;
    });
    socket.on('close', () => this.breakWith(this.lostError()));
  }

  /** Connects (TLS as `tls.mode` says), logs in and checks the server version; fails with PG_CONNECT_FAILED, PG_TLS_REQUIRED, PG_TLS_VERIFY_FAILED, PG_AUTH_FAILED, PG_REPLICATION_REFUSED or PG_SERVER_UNSUPPORTED. */
  static async connect(options: ReplicationConnectionOptions): Promise<ReplicationConnection> {
    if (options.tls?.mode === 'allow') {
      // libpq's allow: plain first, and TLS only when the server refuses the plain login (hostssl lines).
      try {
        return await ReplicationConnection.open(options, false);
      } catch (error) {
        if (!isLoginRefusal(error)) throw error;
      }
      return ReplicationConnection.open(options, true);
    }
    try {
      return await ReplicationConnection.open(options, asksForTlsFirst(options.tls));
    } catch (error) {
      if (options.tls?.mode !== 'disable' || !(error instanceof PgServerError) || !refusedWithoutTls(error)) throw error;
      throw new PgServerError(error.code, error.message, { sqlState: error.sqlState, severity: error.severity, detail: error.detail, hints: [TLS_ONLY_HINT, ...error.hints], retryable: error.retryable });
    }
  }

  private static async open(options: ReplicationConnectionOptions, askForTls: boolean): Promise<ReplicationConnection> {
    const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const startedAt = Date.now();
    const raw = netConnect({ host: options.host, port: options.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 });
    let socket: Socket = raw;
    if (askForTls && options.tls !== undefined) {
      try {
        socket = await negotiateTls(raw, options.tls, options.host, options.port, timeoutMs);
      } catch (error) {
        raw.destroy();
        throw error instanceof DrcError ? error : connectFailure(options, socketReason(error as NodeJS.ErrnoException));
      }
    }
    const connection = new ReplicationConnection(socket, options);
    const remainingMs = Math.max(0, timeoutMs - (Date.now() - startedAt));
    const timer = setTimeout(() => connection.breakWith(connection.connectError(`no answer within ${String(timeoutMs)} ms`)), remainingMs);
    try {
      await connection.startup();
    } finally {
      clearTimeout(timer);
    }
    if (connection.serverVersion < MIN_SERVER_VERSION) {
      await connection.close();
      throw new DrcError('PG_SERVER_UNSUPPORTED', `unable to use PostgreSQL at ${connection.endpoint}: version ${connection.parameters.get('server_version') ?? 'unknown'} is older than 15`, {
        hints: ['DR Console backs up PostgreSQL 15, 16, 17 and 18; upgrade the server first'],
      });
    }
    return connection;
  }

  get endpoint(): string {
    return `${this.options.host}:${String(this.options.port)}`;
  }

  /** The server's version as a number, e.g. 170010 for 17.10, from its ParameterStatus messages. */
  get serverVersion(): number {
    const numeric = this.parameters.get('server_version_num');
    return numeric === undefined ? versionNumber(this.parameters.get('server_version') ?? '') : Number(numeric);
  }

  /** Rows of a simple command (replication command or, with replication=database, SQL), as text. */
  async query(sql: string): Promise<Array<Record<string, string | null>>> {
    const sets = await this.results(sql, `run '${firstWord(sql)}' on ${this.endpoint}`);
    return sets.flatMap((set) => set.rows.map((row) => Object.fromEntries(set.columns.map((column, index) => [column, cellText(row[index]) ?? null]))));
  }

  async identifySystem(): Promise<SystemIdentity> {
    const row = await this.singleRow('IDENTIFY_SYSTEM', `identify the system at ${this.endpoint}`);
    const [systemId, timeline, walPosition] = [cellText(row[0]), cellText(row[1]), cellText(row[2])];
    if (systemId === undefined || timeline === undefined || walPosition === undefined) throw protocolError('IDENTIFY_SYSTEM without system id, timeline or position');
    return { systemId, timeline: Number(timeline), walPosition: parseLsn(walPosition) };
  }

  async show(parameter: string): Promise<string> {
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(parameter)) throw new DrcError('USAGE', `unable to show setting '${parameter}': not a setting name`);
    const value = cellText((await this.singleRow(`SHOW ${parameter}`, `show setting '${parameter}' on ${this.endpoint}`))[0]);
    if (value === undefined) throw protocolError(`SHOW ${parameter} without a value`);
    return value;
  }

  /** The server's WAL segment size in bytes (SHOW wal_segment_size prints e.g. '16MB'). */
  async walSegmentSizeBytes(): Promise<number> {
    return parseSizeSetting(await this.show('wal_segment_size'));
  }

  async createPhysicalSlot(name: string, options: { reserveWal: boolean }): Promise<ReplicationSlot> {
    const row = await this.singleRow(`CREATE_REPLICATION_SLOT ${slotName(name)} PHYSICAL${options.reserveWal ? ' (RESERVE_WAL)' : ''}`, `create replication slot '${name}' on ${this.endpoint}`);
    const restart = cellText(row[1]);
    return { name, restartLsn: restart === undefined ? undefined : parseLsn(restart), timeline: undefined };
  }

  /** READ_REPLICATION_SLOT: the slot, or undefined when there is none by that name. */
  async readReplicationSlot(name: string): Promise<(ReplicationSlot & { readonly type: 'physical' | 'logical' }) | undefined> {
    const row = await this.singleRow(`READ_REPLICATION_SLOT ${slotName(name)}`, `read replication slot '${name}' on ${this.endpoint}`);
    const type = cellText(row[0]);
    if (type === undefined) return undefined;
    const restart = cellText(row[1]);
    const timeline = cellText(row[2]);
    return {
      name,
      type: type === 'logical' ? 'logical' : 'physical',
      restartLsn: restart === undefined ? undefined : parseLsn(restart),
      timeline: timeline === undefined ? undefined : Number(timeline),
    };
  }

  /** The physical slot by this name, created (reserving WAL from now) if it does not exist. */
  async ensurePhysicalSlot(name: string): Promise<ReplicationSlot> {
    let existing = await this.readReplicationSlot(name);
    if (existing === undefined) {
      await this.createPhysicalSlot(name, { reserveWal: true });
      existing = await this.readReplicationSlot(name);
    }
    if (existing === undefined) throw new DrcError('INTERNAL', `unable to create replication slot '${name}' on ${this.endpoint}: it is missing right after creation`, { hints: ['another client may have dropped it; try again'] });
    if (existing.type === 'logical') {
      throw new DrcError('CONFIG_INVALID', `unable to use replication slot '${name}' on ${this.endpoint}: it is a logical slot`, { hints: ['choose another slot name for the console, or drop the logical slot if it is unused'] });
    }
    return { name: existing.name, restartLsn: existing.restartLsn, timeline: existing.timeline };
  }

  async dropSlot(name: string): Promise<void> {
    await this.results(`DROP_REPLICATION_SLOT ${slotName(name)}`, `drop replication slot '${name}' on ${this.endpoint}`);
  }

  /** TIMELINE_HISTORY: the `<timeline>.history` file, byte for byte. */
  async timelineHistory(timeline: number): Promise<{ fileName: string; content: Buffer }> {
    const row = await this.singleRow(`TIMELINE_HISTORY ${String(timeline)}`, `read the history of timeline ${String(timeline)} on ${this.endpoint}`);
    const fileName = cellText(row[0]);
    const content = row[1];
    if (fileName === undefined || content === null || content === undefined) throw protocolError('TIMELINE_HISTORY without file name or content');
    return { fileName, content: Buffer.from(content) };
  }

  /**
   * BASE_BACKUP, streamed into `sink`. With `incrementalFrom` (PostgreSQL 17+, needs
   * summarize_wal = on) the previous manifest is uploaded first and relation files
   * arrive as INCREMENTAL.* files holding only the changed blocks.
   */
  async baseBackup(options: BaseBackupOptions, sink: BaseBackupSink): Promise<BaseBackupEnd> {
    const action = `take a base backup of ${this.endpoint}`;
    if (options.incrementalFrom !== undefined) {
      if (this.serverVersion < INCREMENTAL_SERVER_VERSION) {
        throw new DrcError('PG_SERVER_UNSUPPORTED', `unable to ${action}: incremental backups need PostgreSQL 17 or newer, the server is ${this.parameters.get('server_version') ?? 'older'}`, {
          hints: ['take a full backup; the repository still stores only changed chunks'],
        });
      }
      await this.begin(queryMessage('UPLOAD_MANIFEST'), new UploadManifestResponder(`upload the previous backup manifest to ${this.endpoint}`, this.wire, options.incrementalFrom)).done;
    }
    return this.begin(queryMessage(baseBackupCommand(options)), new BaseBackupResponder(action, sink)).done;
  }

  /**
   * START_REPLICATION … PHYSICAL from `start` on `timeline`, through `slot` if given. The
   * returned stream's `finished` settles when the stream ends; call `confirm()` as WAL is
   * stored safely so the server may recycle it.
   */
  startReplication(slot: string | undefined, start: Lsn, timeline: number, sink: WalSink): ReplicationStream {
    const action = `stream WAL from ${this.endpoint}${slot === undefined ? '' : ` through slot '${slot}'`}`;
    const stream = new WalStream(action, this.wire, sink);
    let command: string;
    try {
      command = startReplicationCommand(slot === undefined ? undefined : slotName(slot), start, timeline);
    } catch (error) {
      stream.abort(error as Error);
      return stream;
    }
    return this.begin(queryMessage(command), stream);
  }

  /** Ends the session (Terminate) and closes the socket; a command still running fails. */
  async close(): Promise<void> {
    if (this.closed) return;
    const socket = this.socket;
    this.breakWith(new DrcError('PG_CONNECT_FAILED', `unable to finish the command on ${this.endpoint}: the connection was closed by this client`, { retryable: false }), false);
    await new Promise<void>((resolve) => {
      socket.end(terminateMessage(), resolve);
    });
    socket.destroy();
  }

  private async startup(): Promise<void> {
    const parameters: Record<string, string> = {
      user: this.options.user,
      database: this.options.database,
      replication: 'database',
      client_encoding: 'UTF8',
      application_name: this.options.applicationName ?? 'drc',
    };
    await this.begin(startupMessage(parameters), new StartupResponder(this.connectAction(), this.wire, new Authenticator(this.options.user, this.options.password, this.endpoint))).done;
    this.started = true;
  }

  private begin<R extends Responder>(message: Buffer, responder: R): R {
    if (this.closed) {
      responder.abort(this.lostError(responder.action));
    } else if (this.current !== undefined) {
      responder.abort(
        new DrcError('USAGE', `unable to ${responder.action}: the connection is busy with another command`, {
          hints: ['a replication connection runs one command at a time: wait for the previous one, or open another connection'],
        }),
      );
    } else {
      this.current = responder;
      this.socket.write(message);
    }
    return responder;
  }

  private async results(sql: string, action: string): Promise<ResultSet[]> {
    return this.begin(queryMessage(sql), new QueryResponder(action)).done;
  }

  private async singleRow(sql: string, action: string): Promise<Array<Buffer | null>> {
    const row = (await this.results(sql, action))[0]?.rows[0];
    if (row === undefined) throw protocolError(`no row in reply to ${firstWord(sql)}`);
    return row;
  }

  private onData(chunk: Buffer): void {
    this.backlog.push(chunk);
    this.pump();
  }

  /** Feeds chunks to the reader in order; while a sink's promise is pending, the socket is paused. */
  private pump(): void {
    while (!this.waiting) {
      const chunk = this.backlog.shift();
      if (chunk === undefined) return;
      let pending: Promise<void> | undefined;
      try {
        pending = this.reader.push(chunk);
      } catch (error) {
        this.breakWith(error as Error);
        return;
      }
      if (pending !== undefined) {
        this.waiting = true;
        this.socket.pause();
        void pending.then(
          () => {
            this.waiting = false;
            this.pump();
            if (!this.waiting && !this.closed) this.socket.resume();
          },
          (error: unknown) => this.breakWith(error as Error),
        );
      }
    }
  }

  private onMessage(type: number, body: Buffer): void | Promise<void> {
    switch (type) {
      case Backend.ErrorResponse: {
        const fields = parseNoticeFields(body);
        const error = serverError(fields, { action: this.current?.action ?? `use the connection to ${this.endpoint}`, phase: this.started ? 'command' : 'startup', user: this.options.user, endpoint: `PostgreSQL at ${this.endpoint}` });
        // FATAL and PANIC end the session: the server closes the socket instead of sending ReadyForQuery.
        if (error.severity === 'FATAL' || error.severity === 'PANIC') this.fatal = error;
        else this.commandError = error;
        return undefined;
      }
      case Backend.NoticeResponse: {
        const fields = parseNoticeFields(body);
        this.onNotice?.({ severity: fields.get('V') ?? fields.get('S') ?? 'NOTICE', sqlState: fields.get('C') ?? '00000', message: fields.get('M') ?? '', detail: fields.get('D'), hint: fields.get('H') });
        return undefined;
      }
      case Backend.ParameterStatus: {
        const name = readCString(body, 0);
        this.parameters.set(name.value, readCString(body, name.next).value);
        return undefined;
      }
      case Backend.NotificationResponse:
        return undefined;
      case Backend.ReadyForQuery: {
        const responder = this.current;
        const error = this.commandError;
        this.current = undefined;
        this.commandError = undefined;
        responder?.complete(error);
        return undefined;
      }
      default:
        if (this.current === undefined) throw protocolError(`message type '${String.fromCharCode(type)}' with no command running`);
        return this.current.onMessage(type, body);
    }
  }

  /** Marks the connection unusable and fails the command in flight with `error`. */
  private breakWith(error: Error, destroy = true): void {
    if (this.closed) return;
    this.closed = true;
    this.reader.abort();
    this.backlog.length = 0;
    if (destroy) this.socket.destroy();
    const responder = this.current;
    this.current = undefined;
    responder?.abort(error);
  }

  /** Why the connection ended: the server's FATAL error if it sent one, else the socket's story. */
  private lostError(action = this.current?.action ?? `use the connection to ${this.endpoint}`): Error {
    if (this.fatal !== undefined) return this.fatal;
    if (!this.started) {
      const reason = this.socketError === undefined ? 'the server closed the connection during login' : socketReason(this.socketError);
      return this.connectError(reason);
    }
    const reason = this.socketError === undefined ? 'the server closed the connection' : socketReason(this.socketError);
    return new DrcError('PG_CONNECT_FAILED', `unable to ${action}: ${reason}`, { hints: ['check the server log; the operation can be retried once the server is reachable'] });
  }

  private connectAction(): string {
    return connectAction(this.options);
  }

  private connectError(reason: string): DrcError {
    return connectFailure(this.options, reason);
  }

  private async writeAndDrain(messages: Buffer[]): Promise<void> {
    let flushed = true;
    for (const message of messages) {
      if (this.closed) throw this.lostError();
      flushed = this.socket.write(message);
    }
    if (flushed) return;
    const drained = deferred<undefined>();
    const onDrain = (): void => drained.resolve(undefined);
    const onClose = (): void => drained.reject(this.lostError());
    this.socket.once('drain', onDrain).once('close', onClose);
    try {
      await drained.promise;
    } finally {
      this.socket.off('drain', onDrain).off('close', onClose);
    }
  }
}

const connectAction = (options: ReplicationConnectionOptions): string => `connect to PostgreSQL at ${options.host}:${String(options.port)} as '${options.user}'`;

function connectFailure(options: ReplicationConnectionOptions, reason: string): DrcError {
  return new DrcError('PG_CONNECT_FAILED', `unable to ${connectAction(options)}: ${reason}`, {
    hints: ['check that the server is running and accepts TCP connections on this host and port (listen_addresses, port, firewall)'],
  });
}

/** Logs in: answers Authentication requests until ReadyForQuery. */
class StartupResponder implements Responder {
  private readonly result = deferred<undefined>();
  readonly done = this.result.promise;

  constructor(
    readonly action: string,
    private readonly wire: Wire,
    private readonly authenticator: Authenticator,
  ) {}

  onMessage(type: number, body: Buffer): void | Promise<void> {
    if (type === Backend.Authentication) return this.authenticate(body);
    // BackendKeyData (for cancel requests, unused) and a protocol minor-version answer need nothing.
    if (type === Backend.BackendKeyData || type === Backend.NegotiateProtocolVersion) return undefined;
    throw protocolError(`message type '${String.fromCharCode(type)}' during login`);
  }

  onCopyPayload(): void {
    throw protocolError('COPY data during login');
  }

  complete(error: PgServerError | undefined): void {
    if (error === undefined) this.result.resolve(undefined);
    else this.result.reject(error);
  }

  abort(error: Error): void {
    this.result.reject(error);
  }

  private async authenticate(body: Buffer): Promise<void> {
    const { reply } = await this.authenticator.respond(body);
    if (reply !== undefined) this.wire.write(reply);
  }
}

/** '16MB' → 16777216: PostgreSQL's memory units (B, kB, MB, GB, TB), base 1024. */
export function parseSizeSetting(text: string): number {
  const match = /^(\d+)\s*(B|kB|MB|GB|TB)?$/.exec(text.trim());
  if (!match?.[1]) throw protocolError(`a size setting '${text}'`);
  const unit = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[match[2] ?? 'B'] ?? 1;
  return Number(match[1]) * unit;
}

/** 'server_version' → number: '17.10' → 170010, '15.18 (Debian …)' → 150018, '18beta1' → 180000, '9.6.24' → 90624. */
export function versionNumber(text: string): number {
  const match = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(text);
  if (!match?.[1]) return 0;
  const major = Number(match[1]);
  const minor = Number(match[2] ?? 0);
  return major >= 10 ? major * 10000 + minor : major * 10000 + minor * 100 + Number(match[3] ?? 0);
}

function slotName(name: string): string {
  if (!/^[a-z0-9_]{1,63}$/.test(name)) {
    throw new DrcError('USAGE', `unable to use replication slot '${name}': not a valid slot name`, { hints: ['slot names use lower-case letters, digits and underscores, at most 63 characters'] });
  }
  return name;
}

const firstWord = (sql: string): string => sql.trim().split(/\s+/)[0] ?? sql;

function socketReason(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED)';
    case 'ETIMEDOUT':
      return 'connection timed out (ETIMEDOUT)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host name not found (${error.code})`;
    case 'ECONNRESET':
      return 'the connection was reset (ECONNRESET)';
    default:
      return error.code === undefined ? error.message : `${error.message} (${error.code})`;
  }
}
