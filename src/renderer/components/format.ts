/**
 * How the console writes figures. Times are always ISO 8601 with their zone: UTC with
 * `Z`, local with its offset, side by side wherever a moment is chosen.
 */
const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? String(Math.round(value)) : value.toFixed(1)} ${units[unit] ?? 'B'}`;
}

/** 45 s, 12 min 5 s, 3 h 20 min, 2 d 4 h: two units at most, the way a person says it. */
export function formatDuration(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  if (whole < 60) return `${String(whole)} s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return whole % 60 === 0 ? `${String(minutes)} min` : `${String(minutes)} min ${String(whole % 60)} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 === 0 ? `${String(hours)} h` : `${String(hours)} h ${String(minutes % 60)} min`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${String(days)} d` : `${String(days)} d ${String(hours % 24)} h`;
}

/** `2026-12-05T14:05:30Z`: seconds precision, UTC. */
export function formatUtc(time: string | number | Date): string {
  return `${new Date(time).toISOString().slice(0, 19)}Z`;
}

function pad(value: number): string {
  return String(value).padStart(2, '0');
}

/** `2026-12-05T15:05:30+01:00`: the workstation's local time with its offset. */
export function formatLocal(time: string | number | Date): string {
  const date = new Date(time);
  const offsetMinutes = -date.getTimezoneOffset();
  const sign = offsetMinutes >= 0 ? '+' : '-';
  const offset = `${sign}${pad(Math.floor(Math.abs(offsetMinutes) / 60))}:${pad(Math.abs(offsetMinutes) % 60)}`;
  return `${String(date.getFullYear())}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}${offset}`;
}

/** Both, for a moment someone acts on: `2026-12-05T14:05:30Z (local 2026-12-05T15:05:30+01:00)`. */
export function formatMoment(time: string | number | Date): string {
  return `${formatUtc(time)} (local ${formatLocal(time)})`;
}
