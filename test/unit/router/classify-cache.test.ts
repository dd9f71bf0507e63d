/** classifyCached: the classifier's answer, shared and frozen for a repeated text, with a bounded memo. */
import { classify, classifyCached } from '../../../src/router';
import { classifyMemoSize } from '../../../src/router/classify-cache';

const STATEMENTS = [
  'SELECT 1',
  "INSERT INTO db.t (a) VALUES (1)",
  'SET max_threads = 2, readonly = 0',
  'USE other',
  'CREATE TEMPORARY TABLE tmp (x UInt8) ENGINE = Memory',
  '/* comment */ WITH x AS (SELECT 1) SELECT * FROM x',
  'SYSTEM FLUSH LOGS',
];

it.each(STATEMENTS)('%s: the same classification as classify(), one shared frozen object per text', (sql) => {
  const first = classifyCached(sql);
  expect(first).toEqual(classify(sql));
  // A text decoded afresh from another packet (a different string object) finds the same entry.
  const again = classifyCached([...sql].join(''));
  expect(again).toBe(first);
  expect(Object.isFrozen(first)).toBe(true);
  if (first.session) expect(Object.isFrozen(first.session)).toBe(true);
  expect(() => {
    (first as { route: string }).route = 'reader';
  }).toThrow(TypeError);
});

it('does not remember texts over 4096 characters, and stays bounded', () => {
  const long = `SELECT ${'1 + '.repeat(2000)}1`;
  expect(classifyCached(long)).not.toBe(classifyCached(long));
  expect(classifyCached(long)).toEqual(classify(long));
  for (let i = 0; i < 5000; i++) classifyCached(`SELECT ${i}`);
  expect(classifyMemoSize()).toBeLessThanOrEqual(2048);
  expect(classifyMemoSize()).toBeGreaterThan(0);
});
