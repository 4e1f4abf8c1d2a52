import type pg from 'pg';
import { DrcError } from '../../../shared/errors.js';

/**
 * The live database a partial restore writes into, given as libpq would take it: a URI
 * (`postgresql://user@host:5432/db`) or key/value pairs (`host=… port=… dbname=… user=…`,
 * values optionally in single quotes). What is left out comes from the PG* environment
 * and ~/.pgpass, as with psql. `display` never holds the password.
 */
export interface LiveDatabase {
  readonly config: pg.ClientConfig;
  readonly display: string;
}

const keywords = ['host', 'hostaddr', 'port', 'dbname', 'user', 'password', 'application_name', 'connect_timeout'];

export function parseConninfo(text: string): LiveDatabase {
  const trimmed = text.trim();
  if (/^postgres(ql)?:\/\//.test(trimmed)) {
    let shown: URL;
    try {
      shown = new URL(trimmed);
    } catch {
      throw usage('not a valid URI');
    }
    if (shown.password !== '') shown.password = '***';
    return { config: { connectionString: trimmed, application_name: 'dr-console' }, display: shown.toString() };
  }
  const config: pg.ClientConfig = { application_name: 'dr-console' };
  const shown: string[] = [];
  for (const [key, value] of keyValuePairs(text)) {
    switch (key) {
      case 'host':
      case 'hostaddr':
        config.host = value;
        break;
      case 'port':
        config.port = Number(value);
        if (!Number.isInteger(config.port)) throw usage('port must be a number');
        break;
      case 'dbname':
        config.database = value;
        break;
      case 'user':
        config.user = value;
        break;
      case 'password':
        config.password = value;
        break;
      case 'application_name':
        config.application_name = value;
        break;
      case 'connect_timeout':
        config.connectionTimeoutMillis = Number(value) * 1000;
        break;
      default:
        throw usage(`unknown keyword '${key}' (known: ${keywords.join(', ')})`);
    }
    shown.push(`${key}=${key === 'password' ? '***' : value}`);
  }
  return { config, display: shown.join(' ') };
}

/** libpq's conninfo grammar: `key = value` pairs, a value quoted with '…' (\\ and \' escaped) or bare up to whitespace. */
function* keyValuePairs(text: string): Generator<[string, string]> {
  let position = 0;
  const skipSpace = (): void => {
    while (position < text.length && /\s/.test(text.charAt(position))) position += 1;
  };
  for (skipSpace(); position < text.length; skipSpace()) {
    const key = /^[A-Za-z_]+/.exec(text.slice(position))?.[0];
    if (key === undefined) throw usage(`expected a keyword at character ${String(position + 1)}`);
    position += key.length;
    skipSpace();
    if (text.charAt(position) !== '=') throw usage(`missing '=' after the keyword ending at character ${String(position)}`);
    position += 1;
    skipSpace();
    let value = '';
    if (text.charAt(position) === "'") {
      for (position += 1; position < text.length && text.charAt(position) !== "'"; position += 1) {
        if (text.charAt(position) === '\\') position += 1;
        value += text.charAt(position);
      }
      if (position >= text.length) throw usage(`unterminated quoted value for '${key}'`);
      position += 1;
    } else {
      for (; position < text.length && !/\s/.test(text.charAt(position)); position += 1) value += text.charAt(position);
    }
    yield [key, value];
  }
}

/** The text itself may hold a password: it is never repeated in the message. */
function usage(why: string): DrcError {
  return new DrcError('USAGE', `unable to read --into: ${why}`, { hints: ["--into 'host=db.example.com port=5432 dbname=wedsync user=dba' or --into postgresql://dba@db.example.com/wedsync (the password from PGPASSWORD or ~/.pgpass)"] });
}
