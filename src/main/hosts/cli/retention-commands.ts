import type { Command } from './command.js';

/** Retention: `expire`. */
export const retentionCommands: Record<string, Command> = {};
