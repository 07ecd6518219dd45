/** The signals table: action, confidence, size, SL/TP at the symbol's digits, reasons. */
import type { Signal } from "../api/types";
import { formatNumber, formatPrice, formatTime } from "../format";
import { Empty } from "./states";

export function SignalsTable({ signals, timeZone }: { signals: Signal[]; timeZone: string }) {
  if (!signals.length) {
    return <Empty>No signals yet. They appear here as the trading engine issues them.</Empty>;
  }
  return (
    <div className="table-wrap">
      <table className="table" data-testid="signals-table">
        <caption className="sr-only">Signals, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Time ({timeZone})</th>
            <th scope="col">Symbol</th>
            <th scope="col">Signal</th>
            <th scope="col" className="num">Confidence</th>
            <th scope="col" className="num">Lots</th>
            <th scope="col" className="num">Stop loss</th>
            <th scope="col" className="num">Take profit</th>
            <th scope="col">Model</th>
            <th scope="col">Reasons</th>
          </tr>
        </thead>
        <tbody>
          {signals.map((signal) => (
            <tr key={`${signal.symbol}-${signal.ts}-${signal.action}`} data-testid="signal-row">
              <td className="nowrap">{formatTime(signal.ts, timeZone)}</td>
              <td>{signal.symbol}</td>
              <td>
                <span className={`pill pill-${signal.action}`}>{signal.action}</span>
              </td>
              <td className="num">
                <span className="confidence">
                  <meter min={0} max={1} value={signal.confidence} aria-hidden="true" />
                  {(signal.confidence * 100).toFixed(1)}%
                </span>
              </td>
              <td className="num">{formatNumber(signal.size, 2)}</td>
              <td className="num">{formatPrice(signal.symbol, signal.stop_loss)}</td>
              <td className="num">{formatPrice(signal.symbol, signal.take_profit)}</td>
              <td className="nowrap">{signal.model}</td>
              <td>
                <ul className="reasons">
                  {signal.reasons.map((reason, index) => (
                    <li key={index}>{reason}</li>
                  ))}
                </ul>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
