import { readFileSync, readdirSync, existsSync } from 'fs';
import { join } from 'path';
import { Reader } from '../../../src/protocol/io/reader';
import { decodeQuery } from '../../../src/protocol/packets';
import { classify } from '../../../src/router';

/**
 * The query texts real 18.16 clients sent (decoded from the captured Query packets, negotiated revision 54412)
 * classify as what the captured server replies show: INSERTs after which the client sent Data blocks expect data,
 * everything else is a read.
 */
const DIR = join(__dirname, '../../fixtures/vectors/captures-18.16');
const INSERTS_WITH_DATA = new Set(['cli_lz4_insert_values', 'cli_nocomp_insert_values', 'cli_lz4_insert_tsv', 'py_insert']);

function capturedQueries(): [string, string][] {
  const out: [string, string][] = [];
  for (const name of readdirSync(DIR).filter((d) => !d.startsWith('_')).sort()) {
    for (const file of readdirSync(join(DIR, name)).filter((f) => f.endsWith('.decoded.txt'))) {
      const conn = file.replace('.decoded.txt', '');
      const bin = join(DIR, name, `${conn}.c2s.bin`);
      if (!existsSync(bin)) continue;
      const buf = readFileSync(bin);
      for (const m of readFileSync(join(DIR, name, file), 'utf8').matchAll(/^c2s @(\d+) Query /gm)) {
        const q = decodeQuery(new Reader(buf, Number(m[1]) + 1), 54412); // +1: the packet code byte
        out.push([name, q.query]);
      }
    }
  }
  return out;
}

const queries = capturedQueries();

describe('classify: query texts captured from ClickHouse 18.16 clients', () => {
  it('finds the captured queries', () => {
    expect(queries.length).toBeGreaterThanOrEqual(20);
    expect(queries.map(([, q]) => q)).toContain('INSERT INTO default.t_ins FORMAT TabSeparated');
  });

  it.each(queries)('%s: %j', (capture, sql) => {
    const c = classify(sql);
    if (INSERTS_WITH_DATA.has(capture)) {
      expect(c.kind).toBe('write');
      expect(c.route).toBe('writer');
      expect(c.insert).toMatchObject({ table: 't_ins', database: 'default', expectsData: true, select: false });
      expect(c.insert?.format).toBe(capture === 'cli_lz4_insert_tsv' ? 'TabSeparated' : 'Values');
    } else {
      expect(c).toMatchObject({ kind: 'read', route: 'reader', statement: 'SELECT' });
    }
  });
});
