const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** Formats bytes in IEC units: 0 B, 512 B, 8.0 KiB, 1.0 GiB. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  // Compare the rounded value, so 1048575 B reads 1.0 MiB rather than 1024.0 KiB.
  while (Math.abs(Math.round(value * 10) / 10) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/**
 * Parses a size such as 10M, 1G, 512K, 1.5GiB or 4096 into bytes (powers of 1024, as du and
 * find do); returns null for anything else.
 */
export function parseSize(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgtpe]?)(?:i?b)?$/i.exec(text.trim());
  if (!match) return null;
  const power = ' kmgtpe'.indexOf((match[2] ?? '').toLowerCase() || ' ');
  const bytes = Number(match[1]) * 1024 ** power;
  return Number.isFinite(bytes) ? Math.round(bytes) : null;
}
