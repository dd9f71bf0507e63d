/**
 * How hard the chaos suite pushes: GATEHOUSE_CHAOS_SCALE=short (default, part of `npm test`, light enough for a
 * shared 2-core machine) or long (`npm run test:chaos`). Every count the suite uses is here, so docs/reliability.md
 * can quote them and a later part (faults, soak, worker kills) adds its own next to them.
 */
export type ChaosScale = 'short' | 'long';

export const SCALE: ChaosScale = process.env.GATEHOUSE_CHAOS_SCALE === 'long' ? 'long' : 'short';

export interface ChaosSizes {
  /** Mutated golden packets framed in-process by the codec (the bulk of the fuzzing). */
  fuzzInProcess: number;
  /** Mutated golden streams sent over real sockets to the proxy. */
  fuzzSockets: number;
  /** Connections sending random bytes. */
  randomByteSockets: number;
  /** Real sockets in flight at once during the socket fuzzing. */
  socketConcurrency: number;
  /** Clients sending their Hello one byte per second. */
  slowloris: number;
  /** Idle connections held open (each after a complete Hello) while a normal client queries. */
  idleConnections: number;
  /** Clients that start a large SELECT and never read it. */
  neverRead: number;
  /** INSERTs in the integrity run, and how many run at once. */
  inserts: number;
  insertConcurrency: number;
}

const SIZES: Record<ChaosScale, ChaosSizes> = {
  short: {
    fuzzInProcess: 5_000,
    fuzzSockets: 300,
    randomByteSockets: 100,
    socketConcurrency: 16,
    slowloris: 5,
    idleConnections: 2_000,
    neverRead: 3,
    inserts: 200,
    insertConcurrency: 6,
  },
  long: {
    fuzzInProcess: 1_000_000,
    fuzzSockets: 20_000,
    randomByteSockets: 5_000,
    socketConcurrency: 32,
    slowloris: 50,
    idleConnections: 8_000,
    neverRead: 4,
    inserts: 2_000,
    insertConcurrency: 16,
  },
};

export const SIZES_NOW: ChaosSizes = SIZES[SCALE];

/** Timeout for one jest test, scaled. */
export const testTimeoutMs = (shortMs: number, longMs: number): number => (SCALE === 'long' ? longMs : shortMs);
