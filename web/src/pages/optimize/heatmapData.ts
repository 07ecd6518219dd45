/** The heatmap of two chosen parameters: the server's (over every trial) or built from the trials listed. */
import type { HeatmapData, OptimizationResult, OptimizationTrial, ParamValue } from "../../api/searchTypes";

export interface ChosenHeatmap extends HeatmapData {
  /** "all": every trial (the server's matrix); "listed": only the best trials the result lists. */
  source: "all" | "listed";
}

function sortValues(values: ParamValue[]): ParamValue[] {
  return [...new Set(values)].sort((a, b) =>
    typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b)),
  );
}

/** Names of the searched parameters, in the order of the search space. */
export function searchedParams(result: OptimizationResult): string[] {
  const names = Object.keys(result.space ?? {});
  if (names.length) return names;
  return Object.keys(result.results[0]?.params ?? {});
}

function transpose(map: HeatmapData): HeatmapData {
  return {
    x: map.y,
    y: map.x,
    x_values: map.y_values,
    y_values: map.x_values,
    z: map.x_values.map((_, j) => map.y_values.map((__, i) => map.z[i][j])),
  };
}

/** The best score per cell over `trials` (the other parameters free). */
export function heatmapOf(trials: OptimizationTrial[], x: string, y: string, minimize: boolean): HeatmapData {
  const xValues = sortValues(trials.map((t) => t.params[x]).filter((v) => v !== undefined));
  const yValues = sortValues(trials.map((t) => t.params[y]).filter((v) => v !== undefined));
  const z: (number | null)[][] = yValues.map(() => xValues.map(() => null));
  for (const trial of trials) {
    if (trial.score === null) continue;
    const i = yValues.indexOf(trial.params[y]);
    const j = xValues.indexOf(trial.params[x]);
    if (i < 0 || j < 0) continue;
    const current = z[i][j];
    if (current === null || (minimize ? trial.score < current : trial.score > current)) z[i][j] = trial.score;
  }
  return { x, y, x_values: xValues, y_values: yValues, z };
}

export function chooseHeatmap(result: OptimizationResult, x: string, y: string): ChosenHeatmap | null {
  if (!x || !y || x === y) return null;
  const server = result.heatmap;
  if (server && server.x === x && server.y === y) return { ...server, source: "all" };
  if (server && server.x === y && server.y === x) return { ...transpose(server), source: "all" };
  return { ...heatmapOf(result.results, x, y, result.direction === "minimize"), source: "listed" };
}
