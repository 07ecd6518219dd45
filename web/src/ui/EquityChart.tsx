/** The paper account's equity curve (a point a minute), in the user's time zone. */
import { useMemo } from "react";
import type { Theme } from "./hooks";
import { SeriesChart } from "./SeriesChart";

interface Props {
  points: { ts: number; equity: number }[];
  theme: Theme;
  timeZone: string;
}

export function EquityChart({ points, theme, timeZone }: Props) {
  const series = useMemo(() => points.map((p) => ({ ts: p.ts, value: p.equity })), [points]);
  return (
    <SeriesChart
      points={series}
      theme={theme}
      timeZone={timeZone}
      label="Equity curve of the paper account"
      testId="equity-chart"
    />
  );
}
