/**
 * A line chart as hand-written SVG: no dependency, readable in any browser and diffable as text.
 */

/** One line of the chart: `values[i]` is plotted at x = i + 0.5 (the middle of the i-th unit of x). */
export interface Series {
  readonly name: string;
  readonly color: string;
  readonly values: readonly number[];
  /** Drawn thicker, on top of the others. */
  readonly emphasis?: boolean;
  /** Drawn dashed: a reference line rather than one of the things compared. */
  readonly dashed?: boolean;
}

/** What {@link lineChartSvg} draws. */
export interface LineChart {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  /** A shaded span of x, labelled (an outage, say). */
  readonly band?: { readonly fromX: number; readonly toX: number; readonly label: string };
  readonly series: readonly Series[];
}

const WIDTH = 1120;
const HEIGHT = 520;
const MARGIN = { top: 48, right: 300, bottom: 56, left: 72 };

const escapeXml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const dash = (series: Series): string => (series.dashed ? ` stroke-dasharray="6 4"` : "");

/** A round step (1, 2 or 5 × 10^k) that cuts [0, max] into at most `ticks` pieces. */
function niceStep(max: number, ticks: number): number {
  const rough = Math.max(max, 1) / ticks;
  const power = 10 ** Math.floor(Math.log10(rough));
  for (const factor of [1, 2, 5, 10]) if (factor * power >= rough) return factor * power;
  return 10 * power;
}

/**
 * Renders `chart` as a standalone SVG document.
 *
 * @example
 * ```ts
 * writeFileSync("calls.svg", lineChartSvg({ title: "Calls", xLabel: "s", yLabel: "calls/s", series }));
 * ```
 */
export function lineChartSvg(chart: LineChart): string {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const xMax = Math.max(1, ...chart.series.map((s) => s.values.length));
  const yStep = niceStep(Math.max(0, ...chart.series.flatMap((s) => s.values)), 8);
  const yMax = yStep * Math.max(1, Math.ceil(Math.max(0, ...chart.series.flatMap((s) => s.values)) / yStep));
  const xStep = niceStep(xMax, 10);
  const x = (value: number): number => MARGIN.left + (value / xMax) * plotWidth;
  const y = (value: number): number => MARGIN.top + plotHeight - (value / yMax) * plotHeight;
  const round = (value: number): string => value.toFixed(1);

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${MARGIN.left}" y="28" font-size="16" font-weight="bold">${escapeXml(chart.title)}</text>`,
  ];
  if (chart.band !== undefined) {
    const { fromX, toX, label } = chart.band;
    parts.push(
      `<rect x="${round(x(fromX))}" y="${MARGIN.top}" width="${round(x(toX) - x(fromX))}" height="${plotHeight}" fill="#fde8e8"/>`,
      `<text x="${round((x(fromX) + x(toX)) / 2)}" y="${MARGIN.top + 16}" text-anchor="middle" fill="#b03030">${escapeXml(label)}</text>`,
    );
  }
  for (let value = 0; value <= yMax; value += yStep) {
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${round(y(value))}" y2="${round(y(value))}" stroke="#e4e4e4"/>`,
      `<text x="${MARGIN.left - 8}" y="${round(y(value) + 4)}" text-anchor="end">${value}</text>`,
    );
  }
  for (let value = 0; value <= xMax; value += xStep) {
    parts.push(
      `<line x1="${round(x(value))}" x2="${round(x(value))}" y1="${MARGIN.top + plotHeight}" y2="${MARGIN.top + plotHeight + 5}" stroke="#333"/>`,
      `<text x="${round(x(value))}" y="${MARGIN.top + plotHeight + 20}" text-anchor="middle">${value}</text>`,
    );
  }
  parts.push(
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${MARGIN.top + plotHeight}" stroke="#333"/>`,
    `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${MARGIN.top + plotHeight}" y2="${MARGIN.top + plotHeight}" stroke="#333"/>`,
    `<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 14}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`,
    `<text transform="translate(20 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(chart.yLabel)}</text>`,
  );
  // Emphasised series last, so that they are drawn on top.
  const ordered = [...chart.series].sort((a, b) => Number(a.emphasis ?? false) - Number(b.emphasis ?? false));
  for (const series of ordered) {
    const points = series.values.map((value, index) => `${round(x(index + 0.5))},${round(y(value))}`).join(" ");
    parts.push(
      `<polyline fill="none" stroke="${series.color}" stroke-width="${series.emphasis ? 3 : 1.5}"${dash(series)} stroke-linejoin="round" points="${points}"><title>${escapeXml(series.name)}</title></polyline>`,
    );
  }
  const legendX = MARGIN.left + plotWidth + 20;
  for (const [index, series] of chart.series.entries()) {
    const rowY = MARGIN.top + 10 + index * 22;
    parts.push(
      `<line x1="${legendX}" x2="${legendX + 24}" y1="${rowY}" y2="${rowY}" stroke="${series.color}" stroke-width="${series.emphasis ? 3 : 2}"${dash(series)}/>`,
      `<text x="${legendX + 32}" y="${rowY + 4}">${escapeXml(series.name)}</text>`,
    );
  }
  parts.push("</svg>", "");
  return parts.join("\n");
}
