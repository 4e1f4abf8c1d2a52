import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { DrcError } from '../../shared/errors.js';
import { registerSecret } from './redact.js';

/** `process.stdin`, or any readable that pretends to be a terminal in tests. */
export type SecretInputStream = Readable & {
  isTTY?: boolean;
  isRaw?: boolean;
  setRawMode?: (mode: boolean) => unknown;
};

export interface ReadSecretInputOptions {
  /** Shown on stderr before reading from a terminal, e.g. "Passphrase: ". */
  prompt: string;
  stdin?: SecretInputStream;
  stderr?: NodeJS.WritableStream;
  /** Ask a second time on a terminal and require both entries to match (typos cannot be seen). */
  confirm?: boolean;
}

const enter = new Set(['\r', '\n']);
const endOfTransmission = '\u0004';
const interrupt = '\u0003';
const backspace = new Set(['\u007f', '\b']);
const killLine = '\u0015';
const escape = '\u001b';

/**
 * Reads a secret typed by a person or piped in by a script. On a terminal it prompts on
 * stderr (so stdout stays clean for JSON output) and switches the terminal to raw mode so
 * nothing is echoed. Otherwise it reads all of stdin and drops one trailing newline, which
 * `echo` and here-documents add but which is not part of the secret.
 */
export async function readSecretInput(options: ReadSecretInputOptions): Promise<string> {
  const { prompt, stdin = process.stdin, stderr = process.stderr, confirm = false } = options;
  let secret: string;
  if (stdin.isTTY === true && stdin.setRawMode !== undefined) {
    const prompts = confirm ? [prompt, `Repeat ${prompt.charAt(0).toLowerCase()}${prompt.slice(1)}`] : [prompt];
    const lines = await readHiddenLines(stdin, stdin.setRawMode.bind(stdin), stderr, prompts);
    secret = lines[0] ?? '';
    if (secret !== '' && confirm && lines[1] !== secret) {
      throw new DrcError('USAGE', 'unable to read the secret: the two entries differ', {
        hints: ['type the same secret twice; nothing is echoed, so a typo goes unnoticed otherwise'],
      });
    }
  } else {
    secret = (await readAll(stdin)).replace(/\r?\n$/, '');
  }
  if (secret === '') {
    throw new DrcError('USAGE', 'unable to read the secret: the input is empty', {
      hints: ['type the secret at the prompt, or pipe it on stdin (printf %s "$SECRET" | drc …)'],
    });
  }
  registerSecret(secret);
  return secret;
}

async function readAll(stdin: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * One raw-mode session for all prompts, so a confirmation typed ahead (or pasted together
 * with the first entry) is not lost between two reads. Stops early at an empty line: there
 * is no point confirming nothing.
 */
function readHiddenLines(
  stdin: Readable & { isRaw?: boolean },
  setRawMode: (mode: boolean) => unknown,
  stderr: NodeJS.WritableStream,
  prompts: readonly string[],
): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    const wasRaw = stdin.isRaw === true;
    const lines: string[] = [];
    let typed = '';
    let escapeState: 'none' | 'started' | 'sequence' = 'none';
    let finished = false;

    const finish = (error?: Error): void => {
      finished = true;
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.off('error', finish);
      setRawMode(wasRaw);
      stdin.pause();
      if (error === undefined) resolve(lines);
      else reject(error);
    };
    const completeLine = (): void => {
      stderr.write('\n');
      lines.push(typed);
      const next = prompts[lines.length];
      if (typed === '' || next === undefined) finish();
      else stderr.write(next);
      typed = '';
    };
    const onData = (chunk: Buffer | string): void => {
      const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
      for (const char of text) {
        if (finished) return;
        // Arrow, function and Alt- keys arrive as ESC [ … final, ESC O final or ESC key;
        // none of it is secret text, and keeping it would silently corrupt the secret.
        if (escapeState === 'started') {
          escapeState = char === '[' || char === 'O' ? 'sequence' : 'none';
        } else if (escapeState === 'sequence') {
          if (/[A-Za-z~]/.test(char)) escapeState = 'none';
        } else if (char === escape) {
          escapeState = 'started';
        } else if (enter.has(char) || char === endOfTransmission) {
          completeLine();
        } else if (char === interrupt) {
          // Raw mode turns Ctrl-C into a plain byte instead of SIGINT, so honour it here.
          stderr.write('\n');
          finish(new DrcError('USAGE', 'unable to read the secret: cancelled at the prompt'));
        } else if (backspace.has(char)) {
          typed = Array.from(typed).slice(0, -1).join('');
        } else if (char === killLine) {
          typed = '';
        } else if (char >= ' ') {
          typed += char;
        }
      }
    };
    const onEnd = (): void => {
      // Input closed mid-entry: keep what was typed; the caller rejects an empty or
      // unconfirmed secret.
      if (typed !== '') lines.push(typed);
      stderr.write('\n');
      finish();
    };

    stderr.write(prompts[0] ?? '');
    setRawMode(true);
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.on('error', finish);
    stdin.resume();
  });
}
