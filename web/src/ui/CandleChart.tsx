/**
 * A candlestick chart of one symbol: the REST bars, then the live ticks and bars of
 * `WS /ws/stream`, with the symbol's signals as markers.
 *
 * Ticks never go through React state: each frame updates the forming candle in place and
 * the chart is redrawn at most once per animation frame, however fast ticks arrive. The
 * container's `data-ticks`, `data-bars` and `data-markers` attributes say what is drawn
 * (the end-to-end test reads them).
 */
import {
  CandlestickSeries,
  createChart,
  createSeriesMarkers,
  type CandlestickData,
  type IChartApi,
  type ISeriesApi,
  type ISeriesMarkersPluginApi,
  type SeriesMarker,
  type Time,
  type UTCTimestamp,
} from "lightweight-charts";
import { useEffect, useRef } from "react";
import type { Bar, Signal, TickItem } from "../api/types";
import { digitsFor, formatPrice } from "../format";
import { stream, type Frame } from "../live/stream";
import { chartOptions, DOWN, NEUTRAL, UP } from "./chartTheme";
import type { Theme } from "./hooks";

export const TIMEFRAME_MS: Record<string, number> = {
  M1: 60_000,
  M5: 300_000,
  M15: 900_000,
  M30: 1_800_000,
  H1: 3_600_000,
  H4: 14_400_000,
};

interface Props {
  symbol: string;
  timeframe: string;
  bars: Bar[];
  signals: Signal[];
  theme: Theme;
  timeZone: string;
}

type Candle = CandlestickData<UTCTimestamp>;

function candleOf(bar: Bar): Candle {
  return {
    time: (bar.ts / 1000) as UTCTimestamp,
    open: bar.open,
    high: bar.high,
    low: bar.low,
    close: bar.close,
  };
}

function markerOf(signal: Signal, width: number): SeriesMarker<Time> {
  const time = (Math.floor(signal.ts / width) * width) / 1000;
  const label = `${signal.action} ${(signal.confidence * 100).toFixed(0)}%`;
  if (signal.action === "buy") {
    return { time: time as UTCTimestamp, position: "belowBar", shape: "arrowUp", color: UP, text: label };
  }
  if (signal.action === "sell") {
    return { time: time as UTCTimestamp, position: "aboveBar", shape: "arrowDown", color: DOWN, text: label };
  }
  return { time: time as UTCTimestamp, position: "aboveBar", shape: "circle", color: NEUTRAL, text: "hold" };
}

export function CandleChart({ symbol, timeframe, bars, signals, theme, timeZone }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const quote = useRef<HTMLSpanElement>(null);
  const chartRef = useRef<IChartApi | null>(null);
  const seriesRef = useRef<ISeriesApi<"Candlestick"> | null>(null);
  const markersRef = useRef<ISeriesMarkersPluginApi<Time> | null>(null);
  const lastRef = useRef<Candle | null>(null);
  const width = TIMEFRAME_MS[timeframe] ?? 300_000;

  // The chart itself: made once per symbol and timeframe.
  useEffect(() => {
    const container = box.current;
    if (!container) return;
    const chart = createChart(container, chartOptions(theme, timeZone));
    const digits = digitsFor(symbol);
    const series = chart.addSeries(CandlestickSeries, {
      upColor: UP,
      downColor: DOWN,
      wickUpColor: UP,
      wickDownColor: DOWN,
      borderVisible: false,
      priceFormat: { type: "price", precision: digits, minMove: 10 ** -digits },
    });
    chartRef.current = chart;
    seriesRef.current = series;
    markersRef.current = createSeriesMarkers(series, []);
    return () => {
      chart.remove();
      chartRef.current = null;
      seriesRef.current = null;
      markersRef.current = null;
      lastRef.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- theme/zone applied below
  }, [symbol, timeframe]);

  useEffect(() => {
    chartRef.current?.applyOptions(chartOptions(theme, timeZone));
  }, [theme, timeZone, symbol, timeframe]);

  // The stored bars.
  useEffect(() => {
    const series = seriesRef.current;
    if (!series) return;
    const candles = bars.map(candleOf);
    series.setData(candles);
    lastRef.current = candles.length ? { ...candles[candles.length - 1] } : null;
    box.current?.setAttribute("data-bars", String(candles.length));
  }, [bars, symbol, timeframe]);

  // The signals as markers (sorted by time, as the chart wants them).
  useEffect(() => {
    const markers = signals
      .filter((s) => s.symbol === symbol)
      .map((s) => markerOf(s, width))
      .sort((a, b) => (a.time as number) - (b.time as number));
    markersRef.current?.setMarkers(markers);
    box.current?.setAttribute("data-markers", String(markers.length));
  }, [signals, symbol, width, timeframe]);

  // Live ticks and bars: update the forming candle, redraw once per animation frame.
  useEffect(() => {
    let dirty = false;
    let frame = 0;
    let ticks = 0;
    let bid = NaN;
    let ask = NaN;
    const container = box.current;

    const flush = () => {
      frame = 0;
      if (!dirty) return;
      dirty = false;
      const last = lastRef.current;
      if (last && seriesRef.current) {
        try {
          seriesRef.current.update({ ...last });
        } catch {
          // an update older than the chart's last bar: the REST bars are newer; skip it
        }
      }
      container?.setAttribute("data-ticks", String(ticks));
      if (quote.current) quote.current.textContent = `${formatPrice(symbol, bid)} / ${formatPrice(symbol, ask)}`;
    };
    const schedule = () => {
      dirty = true;
      if (!frame) frame = requestAnimationFrame(flush);
    };
    const apply = (price: number, ts: number) => {
      const time = ((Math.floor(ts / width) * width) / 1000) as UTCTimestamp;
      const last = lastRef.current;
      if (!last || time > last.time) {
        lastRef.current = { time, open: price, high: price, low: price, close: price };
      } else if (time === last.time) {
        last.high = Math.max(last.high, price);
        last.low = Math.min(last.low, price);
        last.close = price;
      }
    };
    const onTicks = (message: Frame) => {
      if (message.symbol !== symbol || !Array.isArray(message.ticks)) return;
      for (const tick of message.ticks as TickItem[]) {
        apply(tick.bid, tick.ts);
        bid = tick.bid;
        ask = tick.ask;
        ticks += 1;
      }
      schedule();
    };
    const onBar = (message: Frame) => {
      if (message.symbol !== symbol || message.timeframe !== timeframe) return;
      const candle = candleOf(message as unknown as Bar);
      const last = lastRef.current;
      if (!last || candle.time >= last.time) lastRef.current = candle;
      else {
        try {
          seriesRef.current?.update(candle, true);
        } catch {
          // not a bar the chart holds
        }
      }
      schedule();
    };
    const offTicks = stream.on("ticks", onTicks);
    const offBar = stream.on("bar", onBar);
    return () => {
      offTicks();
      offBar();
      if (frame) cancelAnimationFrame(frame);
    };
  }, [symbol, timeframe, width]);

  return (
    <figure className="chart-figure">
      <figcaption className="chart-caption">
        <strong>{symbol}</strong> <span className="muted">{timeframe} · bid / ask</span>{" "}
        <span ref={quote} className="quote" data-testid="quote">
          —
        </span>
      </figcaption>
      <div
        ref={box}
        className="chart"
        data-testid="candle-chart"
        data-symbol={symbol}
        data-bars="0"
        data-ticks="0"
        data-markers="0"
        role="img"
        aria-label={`${symbol} ${timeframe} candlestick chart with signal markers`}
      />
    </figure>
  );
}
