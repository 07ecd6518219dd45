/** The paper account's equity curve (a point a minute), in the user's time zone. */
import { AreaSeries, createChart, type IChartApi, type ISeriesApi, type UTCTimestamp } from "lightweight-charts";
import { useEffect, useRef } from "react";
import { chartOptions } from "./chartTheme";
import type { Theme } from "./hooks";

interface Props {
  points: { ts: number; equity: number }[];
  theme: Theme;
  timeZone: string;
}

export function EquityChart({ points, theme, timeZone }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const chartRef = useRef<IChartApi | null>(null);
  const seriesRef = useRef<ISeriesApi<"Area"> | null>(null);

  useEffect(() => {
    if (!box.current) return;
    const chart = createChart(box.current, chartOptions(theme, timeZone));
    seriesRef.current = chart.addSeries(AreaSeries, {
      lineColor: "#0ea5e9",
      topColor: "rgba(14, 165, 233, 0.35)",
      bottomColor: "rgba(14, 165, 233, 0.02)",
      lineWidth: 2,
      priceFormat: { type: "price", precision: 2, minMove: 0.01 },
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
    for (const point of points) byTime.set(Math.floor(point.ts / 1000), point.equity);
    const data = [...byTime.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([time, value]) => ({ time: time as UTCTimestamp, value }));
    seriesRef.current?.setData(data);
    chartRef.current?.timeScale().fitContent();
    box.current?.setAttribute("data-points", String(data.length));
  }, [points]);

  return (
    <div
      ref={box}
      className="chart chart-small"
      data-testid="equity-chart"
      data-points="0"
      role="img"
      aria-label="Equity curve of the paper account"
    />
  );
}
