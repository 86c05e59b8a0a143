// Numbers as the kernel prints them in /proc text: checked explicitly, never coerced, so a
// malformed field reads as "unknown" (null) instead of NaN or a silently truncated value.

/** A decimal the kernel printed with %u/%lu; null when the text is anything else. */
export function parseUnsigned(text: string | undefined): number | null {
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : null;
}

/** A decimal the kernel printed with %d/%lld (a sign allowed); null when the text is anything else. */
export function parseSigned(text: string | undefined): number | null {
  return text !== undefined && /^-?\d+$/.test(text) ? Number(text) : null;
}
