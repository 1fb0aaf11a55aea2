/**
 * The plain-text table every benchmark script prints: columns padded to their widest cell, a dashed rule
 * under the header, numbers right-aligned.
 */

export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  rightAligned: readonly boolean[],
): string {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => (row[column] ?? "").length)));
  const pad = (cell: string, column: number): string =>
    rightAligned[column] ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0);
  const line = (row: readonly string[]): string => row.map(pad).join("  ").trimEnd();
  return [line(header), widths.map((width) => "-".repeat(width)).join("  "), ...rows.map(line)].join("\n");
}
