/**
 * The read-your-writes-through-single-flight tests' fixture: a table of 3 rows on a node, and a cacheable query that
 * reads its count first (a scalar subquery runs while the query is analysed), then sleeps 1.5 s, so that a write made
 * during the sleep is not in its answer, while the query still runs for a later client to (wrongly) join.
 */
import { httpQuery, type ClickHouseServer } from './servers';

export interface BeforeWrite {
  /** `default.bw_<id>`, holding 0, 1, 2. */
  table: string;
  /** `SELECT (SELECT count() FROM table) AS c, sleep(1.5) AS s, '<mk>' AS m`. */
  sql: string;
  /** `INSERT INTO table VALUES (100)`: the write (3 rows become 4). */
  insert: string;
  /** How many queries carrying the marker run on the node now. */
  running(): Promise<number>;
}

/** `mk` is the test's marker: letters, digits and '-' only. */
export async function beforeWriteFixture(node: ClickHouseServer, mk: string): Promise<BeforeWrite> {
  const table = `default.bw_${mk.replace(/[^A-Za-z0-9]/g, '_')}`;
  await httpQuery(node.httpPort, `CREATE TABLE ${table} (x UInt32) ENGINE = MergeTree ORDER BY x`);
  await httpQuery(node.httpPort, `INSERT INTO ${table} SELECT number FROM numbers(3)`);
  return {
    table,
    sql: `SELECT (SELECT count() FROM ${table}) AS c, sleep(1.5) AS s, '${mk}' AS m`,
    insert: `INSERT INTO ${table} VALUES (100)`,
    running: async () =>
      Number(await httpQuery(node.httpPort, `SELECT count() FROM system.processes WHERE query LIKE '%${mk}%' AND query NOT LIKE '%system.processes%'`)),
  };
}

/** The count column of the fixture query's TSV answer. */
export function countOf(answer: string | Buffer): string {
  return answer.toString().split('\t')[0]!;
}
