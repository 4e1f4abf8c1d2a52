import { constants } from 'node:fs';
import { access, lstat, open, readdir, readFile, realpath } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import type { BackupComponent } from '../../shared/contract/backups.js';
import { DrcError } from '../../shared/errors.js';
import type { AttachmentFile } from '../engines/backup/backup.js';
import { withSql } from '../postgres/cluster.js';
import type { ReplicationConnectionOptions } from '../postgres/replication/types.js';
import type { ServiceContext } from './context.js';

/**
 * The seed's `includeComponents` beyond the data directory, as files to attach to a backup:
 *  - configurations: the server's config_file, hba_file and ident_file when they live
 *    outside the data directory (Debian keeps them in /etc/postgresql; inside the data
 *    directory they are in the backup already), and the console's own config file;
 *  - files: every file under the directories the config lists under `files`.
 * Names are where a restore puts them under `<targetDir>.attachments/`.
 */
export async function componentFiles(context: ServiceContext, connection: ReplicationConnectionOptions, components: readonly BackupComponent[]): Promise<AttachmentFile[]> {
  const files: AttachmentFile[] = [];
  if (components.includes('configurations')) {
    files.push(...(await serverConfigurationFiles(connection)));
    await checkConsoleConfig(context.configPath);
    files.push({ component: 'configurations', name: uniqueName(files, `configurations/${basename(context.configPath)}`), path: context.configPath });
  }
  if (components.includes('files')) {
    const directories = context.config.files ?? [];
    if (directories.length === 0) {
      throw new DrcError('USAGE', 'unable to include the files component: the config lists no directories under `files`', {
        hints: ['add "files": ["/etc/myapp", "/var/lib/myapp/uploads"] to the config, or leave the files component out'],
      });
    }
    const taken = new Set<string>();
    for (const directory of directories) {
      // Two listed directories with the same last name (two `certs`) keep apart as certs and certs-2.
      let name = basename(resolve(directory));
      for (let suffix = 2; taken.has(name); suffix++) name = `${basename(resolve(directory))}-${String(suffix)}`;
      taken.add(name);
      files.push(...(await directoryFiles(directory, `files/${name}`)));
    }
  }
  return files;
}

function uniqueName(files: readonly AttachmentFile[], name: string): string {
  let candidate = name;
  for (let suffix = 2; files.some((file) => file.name === candidate); suffix++) candidate = `${name}-${String(suffix)}`;
  return candidate;
}

/**
 * The server reports where its files are, but only drc on the database host can read
 * them: the server's data directory is checked to be this host's (its pg_control names
 * the same system) before any path it reports is read, so a remote server's paths are
 * never confused with local files of another cluster.
 */
async function serverConfigurationFiles(connection: ReplicationConnectionOptions): Promise<AttachmentFile[]> {
  const settings = await withSql(connection, async (client) => {
    try {
      const result = await client.query<{ data_directory: string; config_file: string; hba_file: string; ident_file: string; system_id: string }>(
        "SELECT current_setting('data_directory') AS data_directory, current_setting('config_file') AS config_file, current_setting('hba_file') AS hba_file, current_setting('ident_file') AS ident_file, (SELECT system_identifier::text FROM pg_control_system()) AS system_id",
      );
      const row = result.rows[0];
      if (!row) throw new Error('no row');
      return row;
    } catch (error) {
      throw new DrcError('PG_QUERY_FAILED', `unable to ask the server where its configuration files are: ${(error as Error).message}`, {
        hints: ['the configured user needs pg_read_all_settings (or superuser) to read data_directory, config_file, hba_file and ident_file', 'or leave the configurations component out'],
        cause: error,
      });
    }
  });
  const onDatabaseHost = [
    'the configurations component reads the server configuration files directly: run DR Console on the database host, as a user that may read them (root or the server user)',
    'or leave the configurations component out',
  ];
  let dataDirectory: string;
  try {
    dataDirectory = await realpath(settings.data_directory);
    const control = await readFile(join(dataDirectory, 'global', 'pg_control'));
    if (control.readBigUInt64LE(0).toString() !== settings.system_id) throw new Error(`its pg_control names another system than the server's ${settings.system_id}`);
  } catch (error) {
    throw new DrcError('BACKUP_FAILED', `unable to include the server configuration files: the data directory '${settings.data_directory}' the server reports cannot be read on this host (${(error as Error).message})`, { hints: onDatabaseHost, cause: error });
  }
  const files: AttachmentFile[] = [];
  for (const path of [settings.config_file, settings.hba_file, settings.ident_file]) {
    let resolved: string;
    try {
      resolved = await realpath(path);
      await access(resolved, constants.R_OK);
    } catch (error) {
      throw new DrcError('BACKUP_FAILED', `unable to read the server configuration file '${path}': ${(error as Error).message}`, { hints: onDatabaseHost, cause: error });
    }
    // Inside the data directory the backup holds it already.
    if (resolved.startsWith(`${dataDirectory}${sep}`)) continue;
    files.push({ component: 'configurations', name: uniqueName(files, `configurations/${basename(resolved)}`), path: resolved });
  }
  return files;
}

/** Field names whose values are secrets when they are not references. */
const secretKey = /pass(word|phrase)?|secret|token|credential|private.?key|access.?key/i;
const reference = /^(env:[A-Za-z_][A-Za-z0-9_]*|keychain:\S+)$/;

/**
 * The console's config holds references (`env:`, `keychain:`), never secrets, and the
 * config schema refuses literal ones where it knows a secret goes. This looks again at
 * the file as written, every field and any PEM block, because a backup copies it to
 * every repository, cloud ones included.
 */
export async function checkConsoleConfig(path: string): Promise<void> {
  const text = await readFile(path, 'utf8');
  const found: string[] = [];
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) found.push('a PEM private key');
  const walk = (value: unknown, at: string): void => {
    if (Array.isArray(value)) value.forEach((item, index) => walk(item, `${at}[${String(index)}]`));
    else if (typeof value === 'object' && value !== null) for (const [key, item] of Object.entries(value)) walk(item, at === '' ? key : `${at}.${key}`);
    else if (typeof value === 'string' && secretKey.test(at.split('.').at(-1) ?? '') && !reference.test(value)) found.push(at);
  };
  walk(JSON.parse(text) as unknown, '');
  if (found.length > 0) {
    throw new DrcError('CONFIG_INVALID', `unable to attach the config file '${path}' to the backup: it seems to hold a secret (${found.join(', ')})`, {
      hints: ['replace each secret with a reference, env:VARIABLE or keychain:ACCOUNT, so the config can be kept with backups', 'or leave the configurations component out'],
    });
  }
}

/** Every regular file under `directory`, symbolic links not followed (a link to / would take the whole machine). */
async function directoryFiles(directory: string, prefix: string): Promise<AttachmentFile[]> {
  const root = resolve(directory);
  const files: AttachmentFile[] = [];
  const visit = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      throw new DrcError('BACKUP_FAILED', `unable to read the directory '${dir}' listed under files: ${(error as Error).message}`, {
        hints: ['the files component is read by drc on the database host: run it as a user that may read the listed directories, or correct `files` in the config'],
        cause: error,
      });
    }
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await visit(path);
      else if (entry.isFile()) files.push({ component: 'files', name: `${prefix}/${relative(root, path).split(sep).join('/')}`, path });
    }
  };
  const info = await lstat(root).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new DrcError('BACKUP_FAILED', `unable to include '${directory}' listed under files: it is not a directory on this host`, {
      hints: ['the files component is read by drc on the database host; correct `files` in the config'],
    });
  }
  await visit(root);
  // Read once now so an unreadable file fails the request at once rather than mid-backup.
  for (const file of files) {
    await open(file.path, 'r').then(
      (handle) => handle.close(),
      (error: unknown) => {
        throw new DrcError('BACKUP_FAILED', `unable to read '${file.path}' listed under files: ${(error as Error).message}`, { hints: ['run drc as a user that may read it, or remove it from the listed directory'], cause: error });
      },
    );
  }
  return files;
}
