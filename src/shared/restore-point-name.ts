import { firstControlCharacter } from './control-characters.js';

/**
 * What a restore point name may be, checked where one is created (`drc restore-point`)
 * and where one is asked for (`restore --name`, the console): PostgreSQL keeps the name
 * in 64 bytes with its terminating zero, and a control character in it could end a line
 * of postgresql.auto.conf, where a restore writes the name.
 */
export const restorePointNameMaxBytes = 63;

/** Why the name cannot be a restore point name, or undefined when it can. */
export function restorePointNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'the name is empty';
  const bytes = new TextEncoder().encode(name).length;
  if (bytes > restorePointNameMaxBytes) return `the name is ${String(bytes)} bytes long in UTF-8; PostgreSQL keeps at most ${String(restorePointNameMaxBytes)}`;
  const control = firstControlCharacter(name);
  if (control !== undefined) return `the name holds a control character (U+${(control.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')})`;
  return undefined;
}
