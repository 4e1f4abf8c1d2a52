import { DrcError } from '../../shared/errors.js';
import { maskedInTextFrom } from './redact.js';

/**
 * The shortest passphrase a new repository or key slot accepts. The passphrase is all
 * that stands between a stolen USB stick and the data, so it must outlast guessing
 * against the scrypt cost; and redaction can only mask it inside text when it is this
 * long (redact.ts), so a shorter one could be read out of output as an ordinary word.
 */
export const minimumPassphraseLength = maskedInTextFrom;

/** Refuses a passphrase about to protect a repository (repo init, repo passphrase add) when it is too short. */
export function requireNewPassphraseStrength(passphrase: string, where: string): void {
  if ([...passphrase].length >= minimumPassphraseLength) return;
  throw new DrcError('PASSPHRASE_TOO_SHORT', `unable to use the new passphrase for ${where}: it has ${String([...passphrase].length)} characters, fewer than ${String(minimumPassphraseLength)}`, {
    hints: [`use at least ${String(minimumPassphraseLength)} characters; a few unrelated words ("copper lantern autumn river") are long and easy to type under stress`],
  });
}
