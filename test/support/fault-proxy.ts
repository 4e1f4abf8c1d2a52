import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface FaultMatch {
  /** HTTP method, compared case-insensitively. */
  readonly method?: string;
  /** Substring of the path (without the query). */
  readonly pathIncludes?: string;
  /** Substring of the query string (without the `?`). */
  readonly queryIncludes?: string;
}

export type FaultAction =
  /** Answer with this status, headers and body without forwarding; Content-Length is set from the body. */
  | { readonly status: number; readonly body?: string; readonly headers?: Readonly<Record<string, string>> }
  /** Forward, send the upstream headers, then reset the connection after n body bytes. */
  | { readonly resetAfterBytes: number }
  /** Forward, send the upstream headers (original Content-Length), n body bytes, then end the connection. */
  | { readonly truncateTo: number }
  /** Wait, then forward normally. */
  | { readonly delayMs: number }
  /** Reset the connection once n bytes of the request body have arrived, never forwarding it: an upload cut off mid-way. */
  | { readonly dropRequestAfterBytes: number };

export interface FaultRule {
  readonly match: FaultMatch;
  /** How many matching requests this rule still applies to; counted down as it fires. */
  times: number;
  readonly action: FaultAction;
}

export interface ProxiedRequest {
  readonly method: string;
  /** Path and query, as the client sent them. */
  readonly path: string;
  /** The fault this request got, if any: a test finds the failed request and checks the client sent it again. */
  readonly fault?: FaultAction;
}

export interface FaultProxy {
  /** Base URL to give the client instead of the upstream's. */
  readonly url: string;
  /** Scripted faults, checked in order; the first matching rule with `times > 0` fires. */
  readonly rules: FaultRule[];
  /** Every request received, in arrival order, faulted or not. */
  readonly requests: ProxiedRequest[];
  /** Requests received with this method (and path substring), to assert retries. */
  count(method: string, pathIncludes?: string): number;
  close(): Promise<void>;
}

/** Hop-by-hop headers describe the upstream connection, not the message; Node sets its own. */
const hopByHop = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade']);

/**
 * A scripted HTTP proxy that forwards to one upstream and injects faults on request: a
 * 5xx answer, a connection reset mid-body, a body cut short of its Content-Length, or a
 * delay. Generic: it knows nothing about the protocol it carries.
 */
export async function startFaultProxy(upstreamUrl: string): Promise<FaultProxy> {
  const upstream = new URL(upstreamUrl);
  const secure = upstream.protocol === 'https:';
  const agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  const basePath = upstream.pathname.replace(/\/$/, '');
  const rules: FaultRule[] = [];
  const requests: ProxiedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const takeRule = (method: string, path: string): FaultRule | undefined => {
    const queryStart = path.indexOf('?');
    const pathname = queryStart === -1 ? path : path.slice(0, queryStart);
    const query = queryStart === -1 ? '' : path.slice(queryStart + 1);
    const rule = rules.find(
      ({ match, times }) =>
        times > 0 &&
        (match.method === undefined || match.method.toUpperCase() === method) &&
        (match.pathIncludes === undefined || pathname.includes(match.pathIncludes)) &&
        (match.queryIncludes === undefined || query.includes(match.queryIncludes)),
    );
    if (rule !== undefined) rule.times -= 1;
    return rule;
  };

  const forward = (req: IncomingMessage, res: ServerResponse, action: FaultAction | undefined): void => {
    const outgoing = (secure ? https.request : http.request)(
      {
        protocol: upstream.protocol,
        hostname: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: basePath + (req.url ?? '/'),
        // The Host header stays as the client sent it: signed requests cover it.
        headers: req.headers,
        agent,
      },
      (upstreamResponse) => relay(upstreamResponse, req, res, action),
    );
    outgoing.on('error', (error) => {
      if (res.headersSent) {
        res.destroy();
      } else {
        res.writeHead(502, { 'content-type': 'text/plain' }).end(`fault proxy: upstream failed: ${error.message}`);
      }
    });
    req.pipe(outgoing);
  };

  const server = http.createServer((req, res) => {
    const method = (req.method ?? 'GET').toUpperCase();
    const path = req.url ?? '/';
    const action = takeRule(method, path)?.action;
    requests.push(action === undefined ? { method, path } : { method, path, fault: action });
    // Faults destroy sockets on purpose; the resulting stream errors are expected.
    req.on('error', () => undefined);
    res.on('error', () => undefined);

    if (action !== undefined && 'status' in action) {
      // Read the whole request first, as a server would, so the client is not cut off mid-send.
      req.resume();
      req.on('end', () => {
        const body = Buffer.from(action.body ?? '');
        res.writeHead(action.status, { ...action.headers, 'content-length': String(body.length) });
        res.end(body);
      });
    } else if (action !== undefined && 'dropRequestAfterBytes' in action) {
      let received = 0;
      req.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= action.dropRequestAfterBytes) req.socket.resetAndDestroy();
      });
      // A body shorter than the limit still loses its connection, or the client would wait for an answer forever.
      req.on('end', () => req.socket.resetAndDestroy());
    } else if (action !== undefined && 'delayMs' in action) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        forward(req, res, action);
      }, action.delayMs);
      timers.add(timer);
    } else {
      forward(req, res, action);
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${String(port)}`,
    rules,
    requests,
    count: (method, pathIncludes) =>
      requests.filter((request) => request.method === method.toUpperCase() && (pathIncludes === undefined || request.path.includes(pathIncludes))).length,
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      agent.destroy();
      await closed;
    },
  };
}

function relay(upstreamResponse: IncomingMessage, req: IncomingMessage, res: ServerResponse, action: FaultAction | undefined): void {
  const headers: string[] = [];
  for (let i = 0; i + 1 < upstreamResponse.rawHeaders.length; i += 2) {
    const name = upstreamResponse.rawHeaders[i] ?? '';
    if (!hopByHop.has(name.toLowerCase())) headers.push(name, upstreamResponse.rawHeaders[i + 1] ?? '');
  }
  res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.statusMessage, headers);

  const limit = action === undefined ? undefined : 'resetAfterBytes' in action ? action.resetAfterBytes : 'truncateTo' in action ? action.truncateTo : undefined;
  if (action === undefined || limit === undefined) {
    upstreamResponse.pipe(res);
    return;
  }

  const socket = req.socket;
  let cut = false;
  // Once the fault fires, the rest of the upstream answer is dropped with its connection.
  // The last bytes are flushed first, so the client really receives `limit` of them.
  const cutOff = (lastPart: Buffer): void => {
    cut = true;
    upstreamResponse.destroy();
    res.write(lastPart, () => {
      if ('resetAfterBytes' in action) {
        socket.resetAndDestroy();
      } else {
        // FIN after a short body: the client sees a clean close before Content-Length was reached.
        socket.end();
      }
    });
  };
  let sent = 0;
  upstreamResponse.on('data', (chunk: Buffer) => {
    if (cut) return;
    const part = chunk.subarray(0, limit - sent);
    sent += part.length;
    if (sent < limit) res.write(part);
    else cutOff(part);
  });
  upstreamResponse.on('end', () => {
    if (cut) return;
    // A body no longer than the limit: an empty one still gets its fault, a short one passes whole.
    if (sent >= limit) cutOff(Buffer.alloc(0));
    else res.end();
  });
}
