import type { Command } from './command.js';

/** Proving recovery points: `restore-test`, and table-level `restore --tables`. */
export const verificationCommands: Record<string, Command> = {};
