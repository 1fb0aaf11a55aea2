/**
 * The few `Cache-Control` directives staunch's edge cache needs (RFC 9111, RFC 5861), parsed strictly: an
 * unreadable value counts as absent, never as a licence to store or to serve stale.
 */

/** Directive names (lower-case) to their values (`""` for a bare directive). */
export function parseCacheControl(value: string | null): Map<string, string> {
  const directives = new Map<string, string>();
  if (value === null) return directives;
  for (const part of value.split(",")) {
    const [rawName, ...rest] = part.split("=");
    const name = rawName?.trim().toLowerCase();
    if (!name) continue;
    directives.set(
      name,
      rest
        .join("=")
        .trim()
        .replace(/^"(.*)"$/, "$1"),
    );
  }
  return directives;
}

/** A directive's value as whole seconds, or `undefined` when absent or not a plain number. */
export function secondsOf(directives: Map<string, string>, name: string): number | undefined {
  const value = directives.get(name);
  return value !== undefined && /^\d{1,10}$/.test(value) ? Number(value) : undefined;
}
