import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { callService, channelName, contractMembers, type ContractServer, type MethodMember } from '../../shared/contract/index.js';
import { DrcError } from '../../shared/errors.js';
import { apiPathOf, eventStreamPath } from '../../shared/http-api.js';
import { createEventStreams } from './http/event-stream.js';
import { loadRendererFiles, type RendererFile } from './http/renderer-files.js';
import { readJsonBody } from './http/request-body.js';
import { checkHost, checkOrigin, checkToken, tokenDigest } from './http/request-guard.js';
import { httpStatusFor, securityHeaders, sendError, sendJson } from './http/responses.js';
import { createSeedBackup, seedBackupPath } from './http/seed-backups.js';

/**
 * `drc serve`: the same contract and the same renderer as the desktop app, for a
 * browser on this machine. Loopback only, and every API call carries a token that is
 * new for each run and reaches the page only through the URL's fragment (which
 * browsers never send to a server, so it is in no access log or proxy).
 */
export interface HttpHost {
  /** The address to open, token included: `http://127.0.0.1:PORT/#token=…`. */
  readonly url: string;
  readonly port: number;
  readonly token: string;
  /** Refuses new connections; requests and event streams already open carry on (they tell the page what cancelling did). */
  stopAccepting(): void;
  /** Ends every event stream and connection; waits at most a second for calls in flight. */
  close(): Promise<void>;
}

export interface HttpHostOptions {
  /** 0 or absent: any free port. */
  readonly port?: number;
  /** The built renderer: `dist/renderer` (index.html, main.js, main.css and their maps). */
  readonly rendererDir: string;
}

/** How long `close()` lets calls in flight finish before cutting their connections. */
const closeGraceMilliseconds = 1000;

export async function createHttpHost(services: ContractServer, options: HttpHostOptions): Promise<HttpHost> {
  const files = await loadRendererFiles(options.rendererDir);
  const token = randomBytes(32).toString('base64url');
  const expectedToken = tokenDigest(token);
  const methods = new Map(contractMembers.filter((member): member is MethodMember => member.kind === 'method').map((member) => [apiPathOf(member), member]));
  const backupsStart = seedTarget(methods);
  const streams = createEventStreams(services);
  let port = 0;

  async function answerApi(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    checkToken(request, expectedToken);
    if (path === eventStreamPath) {
      allowMethods(request, ['GET']);
      streams.open(response);
      return;
    }
    const member = methods.get(path);
    if (member) {
      allowMethods(request, ['POST']);
      const envelope = await callService(services, member, await readJsonBody(request));
      sendJson(response, envelope.ok ? 200 : httpStatusFor(envelope.error), envelope);
      return;
    }
    if (path === seedBackupPath) {
      allowMethods(request, ['POST']);
      const answer = await createSeedBackup(services, backupsStart, await readJsonBody(request));
      // 202: the backup has started and runs on; its progress is on the event stream.
      sendJson(response, answer.success ? 202 : httpStatusFor(answer.error), answer);
      return;
    }
    throw notFound(path);
  }

  function answerStatic(request: IncomingMessage, response: ServerResponse, path: string): void {
    const file: RendererFile | undefined = files.get(path);
    if (!file) throw notFound(path);
    allowMethods(request, ['GET', 'HEAD']);
    response.writeHead(200, {
      ...securityHeaders,
      'Content-Type': file.contentType,
      'Content-Length': String(file.body.length),
      // The bundle changes with every build; a stale copy against a newer API helps nobody.
      'Cache-Control': 'no-cache',
    });
    response.end(request.method === 'HEAD' ? undefined : file.body);
  }

  async function answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const host = checkHost(request, port);
    checkOrigin(request, host);
    const path = new URL(request.url ?? '/', `http://${host}`).pathname;
    if (path === '/api' || path.startsWith('/api/')) await answerApi(request, response, path);
    else answerStatic(request, response, path);
  }

  const server = createServer((request, response) => {
    answer(request, response).catch((error: unknown) => {
      refuse(response, error);
    });
  });
  port = await listen(server, options.port ?? 0);

  return {
    url: `http://127.0.0.1:${String(port)}/#token=${token}`,
    port,
    token,
    stopAccepting() {
      if (server.listening) server.close();
    },
    async close() {
      const closed = new Promise<void>((resolve) => {
        if (!server.listening) resolve();
        server.once('close', () => resolve());
      });
      if (server.listening) server.close();
      streams.closeAll();
      server.closeIdleConnections();
      await Promise.race([closed, delay(closeGraceMilliseconds)]);
      server.closeAllConnections();
      await closed;
    },
  };
}

/** A refusal that needs a header of its own besides the envelope (`Allow` on a 405). */
class RefusedRequest extends Error {
  constructor(
    readonly error: DrcError,
    readonly headers: Readonly<Record<string, string>>,
  ) {
    super(error.message);
  }
}

/** The contract method the seed's backup route adapts; found by its typed channel name, so a rename breaks the build. */
function seedTarget(methods: ReadonlyMap<string, MethodMember>): MethodMember {
  const member = [...methods.values()].find((candidate) => candidate.channel === channelName('backups', 'start'));
  if (!member) throw new Error('the contract has no backups.start for the seed route to call');
  return member;
}

function allowMethods(request: IncomingMessage, allowed: readonly string[]): void {
  if (allowed.includes(request.method ?? '')) return;
  const error = new DrcError('METHOD_NOT_ALLOWED', `unable to answer ${request.method ?? 'a request'} ${request.url ?? ''}: use ${allowed.join(' or ')}`, {
    hints: ['contract calls are POST with a JSON body; the event stream and the pages are GET'],
  });
  throw new RefusedRequest(error, { Allow: allowed.join(', ') });
}

function notFound(path: string): DrcError {
  return new DrcError('ROUTE_NOT_FOUND', `unable to find '${path}' in DR Console`, {
    hints: path.startsWith('/api/') ? ['API paths are /api/<service>/<method>, as named in the contract'] : ['open the URL drc serve printed and navigate from there'],
  });
}

/** Every refusal and failure goes out in the contract's envelope, with the headers every response has. */
function refuse(response: ServerResponse, error: unknown): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  if (error instanceof RefusedRequest) {
    sendError(response, error.error, error.headers);
    return;
  }
  const drcError = error instanceof DrcError ? error : new DrcError('INTERNAL', `unable to answer the request: ${error instanceof Error ? error.message : String(error)}`, { hints: ['this is a defect in DR Console; report it with the steps that led here'] });
  // The rest of an oversized body is not read: the connection ends after the answer.
  const headers: Record<string, string> = drcError.code === 'REQUEST_TOO_LARGE' ? { Connection: 'close' } : {};
  sendError(response, drcError, headers);
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(
        error.code === 'EADDRINUSE' || error.code === 'EACCES'
          ? new DrcError('PORT_IN_USE', `unable to serve DR Console on 127.0.0.1:${String(port)}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : 'the port needs privileges'}`, {
              hints: ['choose another port with --port N (above 1023), or --port 0 for any free one', 'another drc serve may already be running: its URL is the first line it printed'],
            })
          : error,
      );
    };
    server.once('error', onError);
    // Loopback only: the console must not be reachable from the network, whatever the firewall says.
    server.listen({ host: '127.0.0.1', port }, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
