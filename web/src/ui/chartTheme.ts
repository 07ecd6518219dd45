/** Chart colours and time formatting shared by the candle and equity charts. */
import { ColorType, type DeepPartial, type ChartOptions, type Time } from "lightweight-charts";
import { formatAxisTime, formatClock, formatDay, zoneAbbreviation } from "../format";
import type { Theme } from "./hooks";

export const COLORS = {
  dark: { background: "#0f1419", text: "#c9d1d9", grid: "#1f2933", border: "#2d3843" },
  light: { background: "#ffffff", text: "#1f2937", grid: "#eef1f4", border: "#d0d7de" },
};
export const UP = "#16a34a";
export const DOWN = "#dc2626";
export const NEUTRAL = "#8b949e";

function toMs(time: Time): number {
  if (typeof time === "number") return time * 1000;
  if (typeof time === "string") return Date.parse(time);
  return Date.UTC(time.year, time.month - 1, time.day);
}

/** Options making the chart draw in `theme` and label times in `timeZone`. */
export function chartOptions(theme: Theme, timeZone: string): DeepPartial<ChartOptions> {
  const colors = COLORS[theme];
  return {
    autoSize: true,
    layout: {
      background: { type: ColorType.Solid, color: colors.background },
      textColor: colors.text,
      attributionLogo: false,
    },
    grid: { vertLines: { color: colors.grid }, horzLines: { color: colors.grid } },
    rightPriceScale: { borderColor: colors.border },
    timeScale: {
      borderColor: colors.border,
      timeVisible: true,
      secondsVisible: false,
      barSpacing: 9,
      rightOffset: 6,
      tickMarkFormatter: (time: Time, kind: number) =>
        kind <= 2 ? formatDay(toMs(time), timeZone) : formatClock(toMs(time), timeZone),
    },
    localization: {
      timeFormatter: (time: Time) =>
        `${formatDay(toMs(time), timeZone)} ${formatAxisTime(toMs(time), timeZone)} ${zoneAbbreviation(timeZone, toMs(time))}`,
    },
  };
}
