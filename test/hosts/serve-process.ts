import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';

const drcBin = fileURLToPath(new URL('../../bin/drc.js', import.meta.url));

/** A `drc serve` started as its own process, the way a DBA (or the Playwright suite) runs it. */
export interface ServeProcess {
  readonly child: ChildProcess;
  /** The first line of stdout, parsed: the URL with the token in its fragment. */
  readonly url: string;
  readonly token: string;
  readonly port: number;
  /** `http://127.0.0.1:PORT`, without the fragment. */
  readonly origin: string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code once the process has ended. */
  readonly exited: Promise<number | null>;
}

export function startServe(args: string[], env: NodeJS.ProcessEnv): Promise<ServeProcess> {
  const child = spawn(process.execPath, [drcBin, 'serve', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`drc serve printed no URL within 20 s; stderr: ${stderr}`)), 20_000);
    const onData = (): void => {
      const newline = stdout.indexOf('\n');
      if (newline === -1) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      const line = stdout.slice(0, newline);
      const url = args.includes('--json') ? (JSON.parse(line) as { url: string }).url : line;
      const parsed = new URL(url);
      resolve({
        child,
        url,
        token: new URLSearchParams(parsed.hash.slice(1)).get('token') ?? '',
        port: Number(parsed.port),
        origin: parsed.origin,
        stdout: () => stdout,
        stderr: () => stderr,
        exited,
      });
    };
    child.stdout.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`drc serve exited with ${String(code)} before printing a URL; stdout: ${stdout} stderr: ${stderr}`));
    });
  });
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  json<T = { ok: boolean; error?: { code: string; message: string; hints: string[]; retryable: boolean } }>(): T;
}

/**
 * One HTTP request with full control of the headers (`fetch` refuses to set `Host`)
 * and of the body framing (a declared length, or chunks with none).
 */
export function rawRequest(
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer | Buffer[]; host?: string },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { host: options.host ?? '127.0.0.1', port, method: options.method ?? 'GET', path: options.path, headers: options.headers ?? {}, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body, json: <T>() => JSON.parse(body) as T });
        });
        response.on('error', reject);
      },
    );
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      // A host that refuses a body answers and closes before the client is done writing it:
      // the write fails, yet the answer may still be read. Give it a moment before failing.
      if (error.code === 'EPIPE' || error.code === 'ECONNRESET') setTimeout(() => reject(error), 1000);
      else reject(error);
    });
    if (Array.isArray(options.body)) {
      for (const chunk of options.body) outgoing.write(chunk);
      outgoing.end();
    } else {
      outgoing.end(options.body);
    }
  });
}
