/** What every scenario gets and gives back: options in, summary rows (for the final table) and details (for the JSON) out. */

export interface Context {
  /** Smaller and shorter: each scenario in under a minute. */
  readonly quick: boolean;
  readonly pinning: string;
}

/** One line of the summary table. `met` is null when the row has no target. */
export interface SummaryRow {
  scenario: string;
  measure: string;
  parley: number | string | null;
  baseline: number | string | null;
  ratio: number | null;
  target: string;
  met: boolean | null;
}

export interface ScenarioReport {
  readonly name: string;
  readonly rows: SummaryRow[];
  readonly details: Record<string, unknown>;
}

export type Scenario = (ctx: Context) => Promise<ScenarioReport>;

export function phases(quick: boolean) {
  return quick ? { warmupMs: 1000, measureMs: 3500 } : { warmupMs: 3000, measureMs: 10_000 };
}
