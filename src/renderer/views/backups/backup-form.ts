import type { BackupComponent, BackupPriority, BackupStartRequest } from '../../../shared/contract/backups.js';
import { parseMoment } from '../../components/moment.js';

/** What the "Manual backup" dialog holds, as typed; turned into a request only when it is valid. */
export interface BackupForm {
  readonly reason: string;
  readonly type: 'full' | 'incremental';
  /** The data directory is always backed up; these are the optional extras. */
  readonly configurations: boolean;
  readonly files: boolean;
  readonly priority: BackupPriority;
  readonly when: 'now' | 'at';
  /** Typed ISO 8601 date and time; without a zone it is read as local time. */
  readonly at: string;
}

export const emptyBackupForm: BackupForm = { reason: '', type: 'full', configurations: false, files: false, priority: 'normal', when: 'now', at: '' };

export type BackupFormField = 'reason' | 'at';

export type BackupFormResult =
  | { readonly ok: true; readonly request: BackupStartRequest }
  | { readonly ok: false; readonly problems: Readonly<Partial<Record<BackupFormField, string>>> };

export function toStartRequest(form: BackupForm, now: Date): BackupFormResult {
  const problems: Partial<Record<BackupFormField, string>> = {};
  const reason = form.reason.trim();
  if (reason.length === 0) problems.reason = 'Say why this backup is taken, for example "before deploy 4.2".';
  else if (reason.length > 500) problems.reason = `Keep the reason under 500 characters (it has ${String(reason.length)}).`;
  let at: string | undefined;
  if (form.when === 'at') {
    const moment = parseMoment(form.at);
    if (!moment) problems.at = 'Type a date and time as 2026-12-06T02:00, with Z or an offset such as +01:00 for a zone other than local time.';
    else if (moment.getTime() <= now.getTime()) problems.at = 'That moment has passed; choose a later one, or start now.';
    else at = moment.toISOString();
  }
  if (problems.reason !== undefined || problems.at !== undefined) return { ok: false, problems };
  const components: BackupComponent[] = ['database'];
  if (form.configurations) components.push('configurations');
  if (form.files) components.push('files');
  return { ok: true, request: { type: form.type, reason, components, priority: form.priority, ...(at === undefined ? {} : { at }) } };
}
