import { DrcError } from '../../shared/errors.js';

/**
 * Log sequence numbers as bigint, and WAL segment file names. PostgreSQL prints an LSN
 * as two hex halves, `16/B374D848`; a segment file name is timeline, then the LSN's
 * segment number split into "log" and "seg" parts, 8 hex digits each.
 */
export type Lsn = bigint;

export function parseLsn(text: string): Lsn {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!match?.[1] || !match[2]) {
    throw new DrcError('USAGE', `unable to read LSN '${text}': expected the form 16/B374D848`, { hints: ['copy the LSN as PostgreSQL prints it, e.g. from pg_current_wal_lsn()'] });
  }
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function segmentNumber(lsn: Lsn, segmentSize: number): bigint {
  return lsn / BigInt(segmentSize);
}

export function segmentStart(segment: bigint, segmentSize: number): Lsn {
  return segment * BigInt(segmentSize);
}

const hex8 = (value: bigint | number): string => value.toString(16).toUpperCase().padStart(8, '0');

export function segmentFileName(timeline: number, segment: bigint, segmentSize: number): string {
  const segmentsPerLog = 0x100000000n / BigInt(segmentSize);
  return `${hex8(timeline)}${hex8(segment / segmentsPerLog)}${hex8(segment % segmentsPerLog)}`;
}

const segmentNamePattern = /^[0-9A-F]{24}$/;

export function parseSegmentFileName(name: string, segmentSize: number): { timeline: number; segment: bigint } | undefined {
  if (!segmentNamePattern.test(name)) return undefined;
  // Catalogs parse every segment name of a 30-day archive: plain numbers are far cheaper
  // than BigInt string parsing, and exact while the product stays a safe integer.
  const segmentsPerLog = 0x100000000 / segmentSize;
  const segment = parseInt(name.slice(8, 16), 16) * segmentsPerLog + parseInt(name.slice(16, 24), 16);
  return { timeline: parseInt(name.slice(0, 8), 16), segment: Number.isSafeInteger(segment) ? BigInt(segment) : BigInt(`0x${name.slice(8, 16)}`) * BigInt(segmentsPerLog) + BigInt(`0x${name.slice(16, 24)}`) };
}

export function historyFileName(timeline: number): string {
  return `${hex8(timeline)}.history`;
}
