import { access, mkdir, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RepositoryProgress } from '../../src/shared/contract/repository.js';
import { contentSecurityPolicy } from '../../src/main/hosts/content-security-policy.js';
import { createContext, withRepositorySet } from '../../src/main/services/context.js';
import { drc } from '../support/cli.js';
import { writeSampleBackup } from '../support/sample-backup.js';
import { tempDirectory } from '../support/temp.js';
import { rawRequest, startServe, type ServeProcess } from './serve-process.js';

/**
 * `drc serve` as a DBA runs it: the compiled `bin/drc.js` (run `npm run build` first) over
 * a config with two initialised local repositories, one holding a backup. Each security
 * case of the browser host is its own test.
 */
const passphrase = 'serve the console 2026';
const builtRenderer = fileURLToPath(new URL('../../dist/renderer/index.html', import.meta.url));
const oneMebibyte = 1024 * 1024;

const canConnect = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

describe('drc serve: the browser host', () => {
  let dir: Awaited<ReturnType<typeof tempDirectory>>;
  let configPath: string;
  let env: NodeJS.ProcessEnv;
  let serve: ServeProcess;

  const api = (path: string, options: { body?: string | Buffer | Buffer[]; headers?: Record<string, string>; method?: string } = {}) =>
    rawRequest(serve.port, {
      method: options.method ?? 'POST',
      path,
      headers: { 'Content-Type': 'application/json', Host: `127.0.0.1:${String(serve.port)}`, 'X-DRC-Token': serve.token, ...options.headers },
      body: options.body ?? '{}',
    });

  beforeAll(async () => {
    await access(builtRenderer).catch(() => {
      throw new Error('dist/renderer is missing: run `npm run build` before this test');
    });
    dir = await tempDirectory();
    await mkdir(join(dir.path, 'media', 'usb0'), { recursive: true });
    configPath = join(dir.path, 'drc.json');
    await writeFile(
      configPath,
      JSON.stringify({
        encryption: { passphrase: 'env:DRC_TEST_PASSPHRASE' },
        repositories: [
          { name: 'nas', type: 'local', path: join(dir.path, 'nas') },
          { name: 'usb', type: 'removable', path: join(dir.path, 'media', 'usb0', 'drc') },
        ],
      }),
    );
    process.env.DRC_TEST_PASSPHRASE = passphrase;
    env = { ...process.env, DRC_TEST_PASSPHRASE: passphrase };
    const init = await drc(['repo', 'init', '--config', configPath, '--kdf-cost', '10', '--json']);
    expect(init.code, init.stderr).toBe(0);
    // A backup in `nas` gives verify objects to check, and so progress to stream.
    await withRepositorySet(await createContext({ configPath }), 'nas', (set) => writeSampleBackup(set.repositories, '20261205T100000Z-full'));
    serve = await startServe(['--config', configPath, '--port', '0', '--json'], env);
  });

  afterAll(async () => {
    if (serve.child.exitCode === null) {
      serve.child.kill('SIGTERM');
      await serve.exited;
    }
    await dir.remove();
  });

  it('prints {"url"} first, on 127.0.0.1 with a 256-bit token in the fragment', () => {
    const [firstLine] = serve.stdout().split('\n');
    expect(JSON.parse(firstLine ?? '')).toEqual({ url: serve.url });
    expect(serve.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(serve.token, 'base64url')).toHaveLength(32);
  });

  it('answers a contract call that carries the token: repository/info lists both repositories', async () => {
    const response = await api('/api/repository/info');
    expect(response.status).toBe(200);
    const envelope = response.json<{ ok: true; value: Array<{ repository: string; initialized: boolean }> }>();
    expect(envelope.ok).toBe(true);
    expect(envelope.value.map((repository) => [repository.repository, repository.initialized])).toEqual([
      ['nas', true],
      ['usb', true],
    ]);
  });

  it('refuses an API call without a token: 401 TOKEN_INVALID in the contract envelope', async () => {
    const response = await rawRequest(serve.port, { method: 'POST', path: '/api/repository/info', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(response.status).toBe(401);
    expect(response.json()).toEqual({
      ok: false,
      error: { code: 'TOKEN_INVALID', message: expect.stringContaining('no access token') as string, hints: [expect.stringContaining('open the URL drc serve printed') as string], retryable: false },
    });
  });

  it('refuses a wrong token, of the same length or any other', async () => {
    const sameLength = `${serve.token.slice(0, -1)}${serve.token.endsWith('A') ? 'B' : 'A'}`;
    for (const token of [sameLength, 'x', `${serve.token}x`]) {
      const response = await api('/api/repository/info', { headers: { 'X-DRC-Token': token } });
      expect(response.status, token).toBe(401);
      expect(response.json().error?.code).toBe('TOKEN_INVALID');
    }
  });

  it('refuses a foreign Host (DNS rebinding) with 421, and accepts localhost:PORT', async () => {
    for (const host of ['evil.example:80', `evil.example:${String(serve.port)}`, `127.0.0.1:${String(serve.port + 1)}`, '127.0.0.1']) {
      const response = await api('/api/repository/info', { headers: { Host: host } });
      expect(response.status, host).toBe(421);
      expect(response.json().error?.code).toBe('HOST_FORBIDDEN');
    }
    const page = await rawRequest(serve.port, { path: '/', headers: { Host: 'rebound.example' } });
    expect(page.status).toBe(421);
    const viaLocalhost = await api('/api/repository/info', { headers: { Host: `localhost:${String(serve.port)}`, Origin: `http://localhost:${String(serve.port)}` } });
    expect(viaLocalhost.status).toBe(200);
  });

  it('refuses a foreign Origin with 403, even with the right token', async () => {
    for (const origin of ['https://evil.example', 'null', `http://localhost:${String(serve.port)}`, `http://127.0.0.1:${String(serve.port + 1)}`]) {
      const response = await api('/api/repository/info', { headers: { Origin: origin } });
      expect(response.status, origin).toBe(403);
      expect(response.json().error?.code).toBe('ORIGIN_FORBIDDEN');
    }
    const sameOrigin = await api('/api/repository/info', { headers: { Origin: serve.origin } });
    expect(sameOrigin.status).toBe(200);
  });

  it('answers an unknown path with 404 and a wrong method with 405 and Allow', async () => {
    const unknownApi = await api('/api/repository/format');
    expect(unknownApi.status).toBe(404);
    expect(unknownApi.json().error?.code).toBe('ROUTE_NOT_FOUND');
    const unknownPage = await rawRequest(serve.port, { path: '/no-such-view' });
    expect(unknownPage.status).toBe(404);
    expect(unknownPage.json().error?.code).toBe('ROUTE_NOT_FOUND');

    const getMethod = await api('/api/repository/info', { method: 'GET', body: '' });
    expect(getMethod.status).toBe(405);
    expect(getMethod.headers.allow).toBe('POST');
    expect(getMethod.json().error?.code).toBe('METHOD_NOT_ALLOWED');
    const postPage = await rawRequest(serve.port, { method: 'POST', path: '/backups', body: '' });
    expect(postPage.status).toBe(405);
    expect(postPage.headers.allow).toBe('GET, HEAD');
  });

  it('refuses malformed JSON, and a body that is not JSON, with 400', async () => {
    const malformed = await api('/api/repository/info', { body: '{"repository": ' });
    expect(malformed.status).toBe(400);
    expect(malformed.json().error).toMatchObject({ code: 'REQUEST_MALFORMED', message: expect.stringContaining('not valid JSON') as string });
    const form = await api('/api/repository/info', { body: 'repository=nas', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(400);
    expect(form.json().error?.code).toBe('REQUEST_MALFORMED');
    const invalid = await api('/api/repository/verify', { body: '{"repair":"yes"}' });
    expect(invalid.status).toBe(400);
    expect(invalid.json().error).toMatchObject({ code: 'USAGE', hints: [expect.stringContaining('repair') as string] });
  });

  it('accepts a body of exactly 1 MiB and refuses 1 MiB + 1 byte with 413, declared or chunked', async () => {
    const exactly = Buffer.alloc(oneMebibyte, ' ');
    exactly.write('{}');
    expect((await api('/api/repository/info', { body: exactly })).status).toBe(200);

    // Refused on the declared length alone, before a byte of the body is read (so none is sent:
    // the host closes at once, and a client still writing would see EPIPE instead of the answer).
    const refused = await api('/api/repository/info', { body: '', headers: { 'Content-Length': String(oneMebibyte + 1) } });
    expect(refused.status).toBe(413);
    expect(refused.json().error?.code).toBe('REQUEST_TOO_LARGE');

    // No Content-Length: the host counts as it reads and stops at the limit.
    const chunks = Array.from({ length: 17 }, () => Buffer.alloc(64 * 1024, ' '));
    const chunked = await api('/api/repository/info', { body: chunks, headers: { 'Transfer-Encoding': 'chunked' } });
    expect(chunked.status).toBe(413);
    expect(chunked.json().error?.code).toBe('REQUEST_TOO_LARGE');
  });

  it('sends the CSP and the other security headers on pages, API answers and refusals', async () => {
    const responses = {
      page: await rawRequest(serve.port, { path: '/' }),
      script: await rawRequest(serve.port, { path: '/main.js' }),
      api: await api('/api/repository/info'),
      refusal: await api('/api/repository/info', { headers: { 'X-DRC-Token': 'wrong' } }),
      missing: await rawRequest(serve.port, { path: '/nothing-here' }),
    };
    for (const [name, response] of Object.entries(responses)) {
      expect(response.headers['content-security-policy'], name).toBe(`${contentSecurityPolicy}; frame-ancestors 'none'`);
      expect(response.headers['x-content-type-options'], name).toBe('nosniff');
      expect(response.headers['referrer-policy'], name).toBe('no-referrer');
      expect(response.headers['x-frame-options'], name).toBe('DENY');
    }
    expect(responses.api.headers['cache-control']).toBe('no-store');
    expect(responses.refusal.headers['cache-control']).toBe('no-store');
    expect(responses.page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(responses.script.headers['content-type']).toBe('text/javascript; charset=utf-8');
  });

  it('serves the page at every view path, the seed\'s /admin/backups included, with its bundle named from the root', async () => {
    for (const path of ['/', '/overview', '/timeline', '/backups', '/restore-tests', '/repositories', '/events', '/admin/backups']) {
      const response = await rawRequest(serve.port, { path });
      expect(response.status, path).toBe(200);
      expect(response.body, path).toContain('<div id="root">');
      expect(response.body, path).toContain('src="/main.js"');
    }
  });

  it('serves nothing outside the built renderer, however the path is spelled', async () => {
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/..%2fpackage.json', '/%2e%2e%2f%2e%2e%2fpackage.json', '/main.js/../../package.json', '//etc/passwd', '/admin/../../config.json']) {
      const response = await rawRequest(serve.port, { path });
      expect(response.status, path).toBe(404);
      expect(response.body, path).not.toContain('"dependencies"');
    }
  });

  it('listens on 127.0.0.1 only', async () => {
    expect(await canConnect('127.0.0.1', serve.port)).toBe(true);
    // 127.0.0.2 is loopback too: a server bound to 0.0.0.0 or to all of 127/8 would take it.
    expect(await canConnect('127.0.0.2', serve.port)).toBe(false);
    expect(await canConnect('::1', serve.port)).toBe(false);
    const external = Object.values(networkInterfaces())
      .flat()
      .filter((address) => address !== undefined && !address.internal)
      .map((address) => address?.address ?? '');
    for (const address of external) expect(await canConnect(address, serve.port), address).toBe(false);
  });

  it('streams repository progress over the event stream while a verify runs', async () => {
    const refused = await rawRequest(serve.port, { path: '/api/stream' });
    expect(refused.status).toBe(401);

    const controller = new AbortController();
    const stream = await fetch(`${serve.origin}/api/stream`, { headers: { 'X-DRC-Token': serve.token }, signal: controller.signal });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = stream.body?.getReader();
    if (!reader) throw new Error('the event stream has no body');
    const progress: RepositoryProgress[] = [];
    const received = (async () => {
      const decoder = new TextDecoder();
      let text = '';
      while (!progress.some((event) => event.done === event.total)) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        for (const match of text.matchAll(/event: drc:repository\.progress\ndata: (.*)\n\n/g)) progress.push(JSON.parse(match[1] ?? '') as RepositoryProgress);
        text = text.slice(text.lastIndexOf('\n\n') + 2);
      }
    })();
    const verify = await api('/api/repository/verify', { body: '{"repository":"nas"}' });
    expect(verify.json<{ ok: boolean; value: { ok: boolean } }>()).toMatchObject({ ok: true, value: { ok: true } });
    await received;
    controller.abort();
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((event) => event.operation === 'verify' && event.repository === 'nas')).toBe(true);
    expect(progress.at(-1)?.done).toBe(progress.at(-1)?.total);
  });

  it('validates the seed\'s POST /api/backups/create and answers {success:false} with 400', async () => {
    const cases: Array<[unknown, string]> = [
      [{ includeComponents: ['database'], priorityLevel: 'normal' }, 'type'],
      [{ type: 'differential', includeComponents: ['database'] }, 'type'],
      [{ type: 'full', includeComponents: ['database', 'logs'] }, 'includeComponents.1'],
      [{ type: 'full', includeComponents: [] }, 'includeComponents'],
      [{ type: 'full', includeComponents: ['database'], priorityLevel: 'urgent' }, 'priorityLevel'],
      [{ type: 'manual', includeComponents: ['database'], priorityLevel: 'high' }, 'reason'],
      [{ type: 'full', includeComponents: ['database'], priority: 'high' }, 'request'],
    ];
    for (const [body, field] of cases) {
      const response = await api('/api/backups/create', { body: JSON.stringify(body) });
      expect(response.status, JSON.stringify(body)).toBe(400);
      const answer = response.json<{ success: boolean; error: { code: string; hints: string[] } }>();
      expect(answer.success).toBe(false);
      expect(answer.error.code).toBe('USAGE');
      expect(answer.error.hints.some((hint) => hint.startsWith(`${field}:`)), `${field} in ${answer.error.hints.join(' | ')}`).toBe(true);
    }
    const withoutToken = await rawRequest(serve.port, { method: 'POST', path: '/api/backups/create', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect(withoutToken.status).toBe(401);
  });

  it('never writes the token anywhere but the URL line', () => {
    const [, ...rest] = serve.stdout().split('\n');
    expect(rest.join('\n')).toBe('');
    expect(serve.stderr()).not.toContain(serve.token);
  });

  it('refuses a port in use with PORT_IN_USE and a hint', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const result = await drc(['serve', '--config', configPath, '--port', String(port), '--json']);
      expect(result.code).toBe(2);
      expect(result.json<{ error: { code: string; hints: string[] } }>().error).toMatchObject({ code: 'PORT_IN_USE', hints: [expect.stringContaining('--port') as string, expect.any(String) as string] });
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`stops on ${signal}: exit 0 within 2 s, the port closed`, async () => {
      const own = await startServe(['--config', configPath, '--port', '0'], env);
      expect(own.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=/);
      // An open event stream must not hold the stop up.
      const controller = new AbortController();
      const stream = await fetch(`${own.origin}/api/stream`, { headers: { 'X-DRC-Token': own.token }, signal: controller.signal });
      expect(stream.status).toBe(200);
      const started = Date.now();
      own.child.kill(signal);
      const code = await own.exited;
      expect(code).toBe(0);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(await canConnect('127.0.0.1', own.port)).toBe(false);
      expect(own.stdout().trim()).toBe(own.url);
      expect(own.stderr()).not.toContain(own.token);
      controller.abort();
    });
  }
});
