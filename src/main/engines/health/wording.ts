/** Durations and sizes as an alert says them. */
export const durationInWords = (seconds: number): string =>
  seconds < 120 ? `${String(Math.round(seconds))} s` : seconds < 7200 ? `${String(Math.round(seconds / 60))} min` : `${(seconds / 3600).toFixed(1)} h`;

export const mebibytes = (bytes: number): string => `${String(Math.round(bytes / 1024 / 1024))} MiB`;
