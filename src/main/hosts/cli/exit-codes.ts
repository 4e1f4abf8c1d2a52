/**
 * The exit codes of `drc`, the one list that the runner, `drc help` and the README table
 * follow (a test compares the README with this list). Scripts and cron branch on them, so
 * a code keeps its meaning across versions.
 */
export const exitCodes = {
  ok: { code: 0, meaning: 'fine; also when the reader of the output closed the pipe early (`drc list | head`)' },
  problem: { code: 1, meaning: 'a problem was found (verify, status alerts, a missing copy, a failed restore test) or the operation failed' },
  usage: { code: 2, meaning: 'usage or configuration error: the command line, a time, the config file, a secret reference, the database login' },
  interrupted: { code: 130, meaning: 'stopped at once by a second SIGINT or SIGTERM' },
} as const;
