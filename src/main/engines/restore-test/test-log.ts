import type { RestoreTestCheck, RestoreTestCheckName, RestoreTestProblem } from '../../../shared/contract/restore-test.js';
import { restoreTestCheckNameSchema } from '../../../shared/contract/restore-test.js';
import type { ErrorData } from '../../../shared/errors.js';

/**
 * What a restore test found, check by check: each check passes, warns or fails with the
 * findings that made it so. A check that never ran (an earlier one failed, or the test
 * was interrupted) is listed as skipped, so the record always shows the whole list.
 */
export class TestLog {
  readonly checks: RestoreTestCheck[] = [];
  readonly problems: RestoreTestProblem[] = [];
  readonly warnings: string[] = [];

  /** Adds a check; its status follows from the problems and warnings given. */
  add(name: RestoreTestCheckName, detail: string, durationMs: number, findings: { problems?: readonly string[]; warnings?: readonly string[] } = {}): void {
    const problems = findings.problems ?? [];
    const warnings = findings.warnings ?? [];
    this.checks.push({ name, status: problems.length > 0 ? 'failed' : warnings.length > 0 ? 'warning' : 'passed', detail, durationMs });
    for (const message of problems) this.problems.push({ check: name, message });
    this.warnings.push(...warnings);
  }

  fail(name: RestoreTestCheckName, message: string, durationMs: number): void {
    this.add(name, message, durationMs, { problems: [message] });
  }

  /** A check that failed because another one did: listed as failed, its problem counted once (under the other). */
  failedBecause(name: RestoreTestCheckName, cause: RestoreTestCheckName, durationMs: number): void {
    this.checks.push({ name, status: 'failed', detail: `did not complete: see ${cause}`, durationMs });
  }

  /** A check stopped by SIGINT/SIGTERM while it ran: neither passed nor failed. */
  interrupted(name: RestoreTestCheckName, durationMs: number): void {
    this.checks.push({ name, status: 'skipped', detail: 'interrupted (SIGINT/SIGTERM) while it ran', durationMs });
  }

  get failed(): boolean {
    return this.problems.length > 0;
  }

  /** Every check that did not run, marked skipped with why. */
  finish(interrupted: boolean): RestoreTestCheck[] {
    const ran = new Set(this.checks.map((check) => check.name));
    for (const name of restoreTestCheckNameSchema.options) {
      if (!ran.has(name)) this.checks.push({ name, status: 'skipped', detail: interrupted ? 'not run: the test was interrupted' : 'not run: an earlier check failed', durationMs: 0 });
    }
    return this.checks;
  }

  /** The reason the test failed, worded for the DBA who must act on it; undefined when it passed. */
  failure(subject: string): ErrorData | undefined {
    const first = this.problems[0];
    if (!first) return undefined;
    const more = this.problems.length - 1;
    const failedChecks = [...new Set(this.problems.map((problem) => problem.check))];
    return {
      code: 'RESTORE_TEST_FAILED',
      message: `unable to prove ${subject} restorable: ${first.check}: ${first.message}${more > 0 ? ` (and ${String(more)} more problem${more === 1 ? '' : 's'})` : ''}`,
      hints: failedChecks.map((check) => hints[check]),
      retryable: false,
    };
  }
}

const hints: Record<RestoreTestCheckName, string> = {
  restore: 'the restore itself failed: fix what the message names (space, permissions, repositories) and run the test again',
  chunks: 'a stored object has no authentic copy in the repositories tested: `drc verify --repair` rewrites it from a good copy if another repository has one; then take a new backup',
  'manifest-checksums': 'the restored files differ from what the server sent although every chunk authenticated: take a new backup, and report this with the backup id',
  start: "the restored copy does not start with these server binaries; the message quotes the server's log",
  recovery: 'WAL on the way to the target is missing or damaged: take a new full backup now so recovery no longer needs it, and check `drc wal status`',
  amcheck: 'the backed-up data is corrupt: check the production cluster with amcheck, and keep an older backup that passes until it is repaired',
  'read-tables': 'a table of the restored copy cannot be read to the end: check the same table in production, and keep an older backup that passes until it is repaired',
};
