import { appendFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RecoveryTarget } from '../../../shared/contract/restore.js';
import { firstControlCharacter, withoutControlCharacters } from '../../../shared/control-characters.js';
import { DrcError } from '../../../shared/errors.js';

/**
 * configure: recovery settings that need nothing but the data directory itself. Every
 * WAL segment is already in pg_wal/, so `restore_command` only has to fail: PostgreSQL
 * then reads the segment from pg_wal/ (archive recovery refuses an empty command).
 * `exit 1` works in both sh and cmd.exe. A restored copy must also never archive into
 * the production cluster's archive, so archive_mode is switched off.
 */
export async function writeRecoveryConfig(targetDir: string, target: RecoveryTarget, options: { pause: boolean; port?: number; inPlaceTablespaces: boolean; comment: string }): Promise<void> {
  const settings: Array<[string, string]> = [
    ['restore_command', 'exit 1'],
    ['recovery_target_timeline', 'latest'],
    ['archive_mode', 'off'],
  ];
  if (options.inPlaceTablespaces) {
    // Tablespaces are restored inside the data directory (pg_tblspc/<oid>/), not to the
    // source server's paths, which a break-glass workstation rarely has.
    settings.push(['allow_in_place_tablespaces', 'on']);
  }
  switch (target.kind) {
    case 'time':
      // PostgreSQL reads '2026-06-14 09:30:00.123+00', not the ISO 'T…Z' form.
      settings.push(['recovery_target_time', new Date(target.time).toISOString().replace('T', ' ').replace('Z', '+00')]);
      break;
    case 'lsn':
      settings.push(['recovery_target_lsn', target.lsn]);
      break;
    case 'name':
      settings.push(['recovery_target_name', target.name]);
      break;
    case 'xid':
      settings.push(['recovery_target_xid', target.xid]);
      break;
    case 'immediate':
      settings.push(['recovery_target', 'immediate']);
      break;
    case 'latest':
      break;
  }
  if (target.kind !== 'latest') settings.push(['recovery_target_action', options.pause ? 'pause' : 'promote']);
  if (options.port !== undefined) settings.push(['port', String(options.port)]);
  const lines = settings.map(([name, value]) => `${name} = ${quoteSettingValue(name, value)}`);
  await appendFile(join(targetDir, 'postgresql.auto.conf'), `\n# ${withoutControlCharacters(options.comment)}\n${lines.join('\n')}\n`, { mode: 0o600 });
  await writeFile(join(targetDir, 'recovery.signal'), '', { mode: 0o600 });
  // tablespace_map would make recovery replace pg_tblspc/<oid> with links to the source's paths.
  if (options.inPlaceTablespaces) await rm(join(targetDir, 'tablespace_map'), { force: true });
}

/**
 * A value as PostgreSQL's configuration parser reads it back: single-quoted, with a quote
 * doubled and a backslash escaped (the parser reads `\` sequences inside quotes). A
 * control character is refused rather than escaped: a line break in a value is how a
 * setting of someone else's choosing would be slipped in.
 */
export function quoteSettingValue(name: string, value: string): string {
  if (firstControlCharacter(value) !== undefined) {
    throw new DrcError('RESTORE_FAILED', `unable to write recovery setting ${name}: its value ${JSON.stringify(value)} holds a control character`, {
      hints: ['restore point names and targets are printable text; pick the target again'],
    });
  }
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}
