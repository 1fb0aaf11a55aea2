/**
 * URLs as they may appear in logs: query strings carry tokens and personal data often enough that the
 * default is to leave them out.
 */

/**
 * The URL without credentials, query string or fragment; a removed query shows as `?…`.
 *
 * @example
 * ```ts
 * redactUrl("https://user:pw@api.example.com/v1/items?token=secret#top"); // "https://api.example.com/v1/items?…"
 * ```
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}${parsed.search ? "?…" : ""}`;
  } catch {
    return "[unparseable URL]";
  }
}
