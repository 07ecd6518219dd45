/** One area series over time (an equity or drawdown curve), in the user's time zone. */
import { AreaSeries, createChart, type IChartApi, type ISeriesApi, type UTCTimestamp } from "lightweight-charts";
import { useEffect, useRef } from "react";
import { chartOptions } from "./chartTheme";
import type { Theme } from "./hooks";

export interface SeriesPoint {
  ts: number;
  value: number;
}

interface Props {
  points: SeriesPoint[];
  theme: Theme;
  timeZone: string;
  label: string;
  testId: string;
  color?: string;
  precision?: number;
  /** Shade from the line up to the top (a drawdown hangs from zero). */
  inverted?: boolean;
}

const SKY = "#0ea5e9";

function rgba(hex: string, alpha: number): string {
  const value = Number.parseInt(hex.slice(1), 16);
  return `rgba(${(value >> 16) & 255}, ${(value >> 8) & 255}, ${value & 255}, ${alpha})`;
}

export function SeriesChart({ points, theme, timeZone, label, testId, color = SKY, precision = 2, inverted = false }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const chartRef = useRef<IChartApi | null>(null);
  const seriesRef = useRef<ISeriesApi<"Area"> | null>(null);

  useEffect(() => {
    if (!box.current) return;
    const chart = createChart(box.current, chartOptions(theme, timeZone));
    seriesRef.current = chart.addSeries(AreaSeries, {
      lineColor: color,
      topColor: rgba(color, inverted ? 0.02 : 0.35),
      bottomColor: rgba(color, inverted ? 0.35 : 0.02),
      invertFilledArea: inverted,
      lineWidth: 2,
      priceFormat: { type: "price", precision, minMove: 10 ** -precision },
    });
    chartRef.current = chart;
    return () => {
      chart.remove();
      chartRef.current = null;
      seriesRef.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- options applied below
  }, []);

  useEffect(() => {
    chartRef.current?.applyOptions(chartOptions(theme, timeZone));
  }, [theme, timeZone]);

  useEffect(() => {
    const byTime = new Map<number, number>();
    for (const point of points) byTime.set(Math.floor(point.ts / 1000), point.value);
    const data = [...byTime.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([time, value]) => ({ time: time as UTCTimestamp, value }));
    seriesRef.current?.setData(data);
    chartRef.current?.timeScale().fitContent();
    box.current?.setAttribute("data-points", String(data.length));
  }, [points]);

  return <div ref={box} className="chart chart-small" data-testid={testId} data-points="0" role="img" aria-label={label} />;
}
