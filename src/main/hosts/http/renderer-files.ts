import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import { consoleViewPaths } from '../../../shared/http-api.js';
import { DrcError } from '../../../shared/errors.js';

/** A file of the built renderer, by the URL path it is served at. */
export interface RendererFile {
  readonly body: Buffer;
  readonly contentType: string;
}

const contentTypes: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
};

async function listFiles(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

/**
 * The built renderer, read once at start into a table keyed by URL path. A request
 * is answered only by looking its path up in that table; nothing a browser sends is
 * ever joined onto a file-system path, so `..`, encoded slashes or symlinks cannot
 * reach a file outside `dist/renderer`.
 *
 * The page refers to its bundle as `./main.js` (right for file:// in the desktop app);
 * over HTTP a view such as `/admin/backups` would resolve that to `/admin/main.js`, so
 * the page served here names its files from the root instead.
 */
export async function loadRendererFiles(rendererDir: string): Promise<ReadonlyMap<string, RendererFile>> {
  let paths: string[];
  try {
    paths = await listFiles(rendererDir);
  } catch (error) {
    throw notBuilt(rendererDir, (error as NodeJS.ErrnoException).code ?? String(error));
  }
  const files = new Map<string, RendererFile>();
  for (const path of paths) {
    const urlPath = `/${relative(rendererDir, path).split(sep).join('/')}`;
    files.set(urlPath, { body: await readFile(path), contentType: contentTypes[extname(path)] ?? 'application/octet-stream' });
  }
  const page = files.get('/index.html');
  if (!page) throw notBuilt(rendererDir, 'it has no index.html');
  const rootedPage: RendererFile = { ...page, body: Buffer.from(page.body.toString('utf8').replace(/(\s(?:src|href)=["'])\.\//g, '$1/')) };
  files.set('/index.html', rootedPage);
  for (const view of consoleViewPaths) files.set(view, rootedPage);
  return files;
}

function notBuilt(rendererDir: string, reason: string): DrcError {
  return new DrcError('RENDERER_NOT_BUILT', `unable to serve the dashboard from '${rendererDir}': ${reason}`, {
    hints: ['run `npm run build` (it bundles the dashboard into dist/renderer), then start drc serve again'],
  });
}
