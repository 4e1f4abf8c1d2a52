import type { Command } from './command.js';

/** Running the policy: `daemon`, `status`, `events`. */
export const operationsCommands: Record<string, Command> = {};
