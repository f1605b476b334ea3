// Usage per UTC day, stacked by workspace class (ReportService.ListDailyUsage), drawn with uPlot.
// A table of the same numbers is one click away for screen readers and exact values.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { reportClient } from "../api.js";
import { dayMs, formatCents, formatCompact, formatUtcDay } from "../format.js";
import { useRemote } from "../use-remote.js";
import type { DailyUsage } from "../../../src/gen/usage/v1/report_pb.js";
import { ErrorBox } from "./error-box.js";
import { filterRange, type UsageFilter } from "./usage-filters.js";

const palette = ["#2563eb", "#0d9488", "#d97706", "#7c3aed", "#db2777", "#4d7c0f", "#0891b2", "#b91c1c"];
const noClass = "(no class)";
const dayLabel = new Intl.DateTimeFormat("en-US", { month: "short", day: "numeric", timeZone: "UTC" });

export interface DailySeries {
  /** Midnight UTC of every day in the range, in seconds. */
  readonly days: number[];
  readonly classes: string[];
  /** cents[class][day] */
  readonly cents: bigint[][];
  readonly totalCents: bigint;
}

/** Spreads the summary rows over every day of [from, to), zero where a class has no usage. */
export function toDailySeries(rows: readonly DailyUsage[], from: Date, to: Date): DailySeries {
  const days: number[] = [];
  for (let t = from.getTime(); t < to.getTime(); t += dayMs) days.push(t / 1000);
  const classes = [...new Set(rows.map((row) => row.workspaceClass || noClass))].sort();
  const cents = classes.map(() => days.map(() => 0n));
  let totalCents = 0n;
  for (const row of rows) {
    const dayIndex = Math.round((timestampDate(row.day!).getTime() - from.getTime()) / dayMs);
    const classIndex = classes.indexOf(row.workspaceClass || noClass);
    if (dayIndex < 0 || dayIndex >= days.length) continue;
    cents[classIndex]![dayIndex]! += row.creditCents;
    totalCents += row.creditCents;
  }
  return { days, classes, cents, totalCents };
}

export function UsageChart({ attributionId, filter }: { attributionId: string; filter: UsageFilter }) {
  const summary = useRemote(
    async (signal) => {
      const range = filterRange(filter);
      const response = await reportClient.listDailyUsage(
        { attributionId, from: range.from, to: range.to, userId: filter.userId },
        { signal },
      );
      return toDailySeries(response.days, range.fromDate, range.toDate);
    },
    [attributionId, filter.from, filter.to, filter.userId],
  );
  const series = summary.data;
  return (
    <section class="card chart-card" aria-labelledby="chart-title" aria-busy={summary.loading}>
      <div class="card__header">
        <h2 id="chart-title">Usage per day</h2>
        {series && (
          <p class="card__meta" data-testid="chart-total">
            {formatCents(series.totalCents)} credits from {filter.from} to {filter.to} (UTC)
          </p>
        )}
      </div>
      <ErrorBox message={summary.error} />
      {series && series.classes.length === 0 && <p class="empty">No usage in this range.</p>}
      {series && series.classes.length > 0 && <StackedBars series={series} />}
      {series && series.classes.length > 0 && <ChartTable series={series} />}
    </section>
  );
}

function StackedBars({ series }: { series: DailySeries }) {
  const host = useRef<HTMLDivElement>(null);
  const [hover, setHover] = useState<number | undefined>();
  // Stacks are drawn as cumulative bars, tallest first, so each class shows as its own band.
  const stacked = useMemo(() => {
    const credits = series.cents.map((row) => row.map((c) => Number(c) / 100));
    return credits.map((_, k) => series.days.map((__, d) => credits.slice(k).reduce((sum, row) => sum + row[d]!, 0)));
  }, [series]);

  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const bars = uPlot.paths.bars!({ size: [0.7, 48], gap: 1 });
    const options: uPlot.Options = {
      width: element.clientWidth,
      height: 260,
      tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"),
      legend: { show: false },
      cursor: { points: { show: false }, drag: { x: false, y: false } },
      // Half a day of room on both sides, so the first and last bars are not cut in half.
      scales: { x: { time: true, range: (_u, min, max) => [min - dayMs / 2000, max + dayMs / 2000] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.08 : 1] } },
      axes: [
        {
          stroke: "#64748b",
          grid: { show: false },
          ticks: { stroke: "#cbd5e1" },
          space: 56,
          values: (_u, splits) => splits.map((seconds) => dayLabel.format(new Date(seconds * 1000))),
        },
        {
          stroke: "#64748b",
          grid: { stroke: "#e2e8f0", width: 1 },
          ticks: { show: false },
          values: (_u, splits) => splits.map((v) => formatCompact(v)),
          size: 56,
        },
      ],
      series: [
        {},
        ...series.classes.map((name, k) => ({
          label: name,
          fill: palette[k % palette.length],
          stroke: palette[k % palette.length],
          width: 0,
          paths: bars,
          points: { show: false },
        })),
      ],
      hooks: { setCursor: [(u: uPlot) => setHover(u.cursor.idx ?? undefined)] },
    };
    const plot = new uPlot(options, [series.days, ...stacked], element);
    const resize = new ResizeObserver(() => plot.setSize({ width: element.clientWidth, height: 260 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [series, stacked]);

  const readout =
    hover === undefined
      ? undefined
      : {
          day: formatUtcDay(new Date(series.days[hover]! * 1000)),
          values: series.classes.map((name, k) => [name, series.cents[k]![hover]!] as const),
        };
  return (
    <figure class="chart">
      <div class="chart__plot" ref={host} role="img" aria-label="Stacked bars of credits per day and workspace class; the table below has the numbers" data-testid="usage-chart" />
      <figcaption class="chart__legend">
        {series.classes.map((name, k) => (
          <span class="legend-item" key={name}>
            <span class="legend-swatch" style={{ background: palette[k % palette.length] }} />
            {name}
            {readout ? <strong> {formatCents(readout.values[k]![1])}</strong> : null}
          </span>
        ))}
        {readout && <span class="legend-day">{readout.day}</span>}
      </figcaption>
    </figure>
  );
}

function ChartTable({ series }: { series: DailySeries }) {
  const daysWithUsage = series.days
    .map((day, d) => ({ day, d, total: series.cents.reduce((sum, row) => sum + row[d]!, 0n) }))
    .filter((row) => series.cents.some((classRow) => classRow[row.d] !== 0n));
  return (
    <details class="chart-table">
      <summary>Show as a table ({daysWithUsage.length} days with usage)</summary>
      <div class="table-wrap">
        <table class="table">
          <thead>
            <tr>
              <th scope="col">Day (UTC)</th>
              {series.classes.map((name) => (
                <th scope="col" class="num" key={name}>
                  {name}
                </th>
              ))}
              <th scope="col" class="num">
                Total
              </th>
            </tr>
          </thead>
          <tbody>
            {daysWithUsage.map(({ day, d, total }) => (
              <tr key={day}>
                <th scope="row">{formatUtcDay(new Date(day * 1000))}</th>
                {series.classes.map((name, k) => (
                  <td class="num" key={name}>
                    {formatCents(series.cents[k]![d]!)}
                  </td>
                ))}
                <td class="num">{formatCents(total)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}
