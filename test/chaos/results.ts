/**
 * Figures measured by the chaos suite (counts, durations, RSS), appended as JSON lines to one file per run so that
 * docs/reliability.md can quote a real run. The file is in the temp dir, never in the repository.
 */
import { appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SCALE } from './scale';

export const RESULTS_FILE = process.env.GATEHOUSE_CHAOS_RESULTS ?? join(tmpdir(), `gatehouse-chaos-${SCALE}.jsonl`);

export function record(scenario: string, figures: Record<string, unknown>): void {
  appendFileSync(RESULTS_FILE, JSON.stringify({ at: new Date().toISOString(), scale: SCALE, scenario, ...figures }) + '\n');
}
