import { settingsClauseNames } from '../../../src/router';

describe('settingsClauseNames', () => {
  it.each([
    ['SELECT 1', []],
    ['SELECT 1 SETTINGS max_threads = 7', ['max_threads']],
    ['select 1 settings max_threads=7, max_block_size = 10 FORMAT TSV', ['max_threads', 'max_block_size']],
    ["SELECT 'SETTINGS max_threads = 1'", []],
    ['SELECT 1 /* SETTINGS max_threads = 1 */', []],
    ['SELECT * FROM (SELECT 1 SETTINGS max_execution_time = 100)', ['max_execution_time']],
    ['INSERT INTO t SETTINGS async_insert = 1 VALUES', ['async_insert']],
    ['SELECT 1 SETTINGS `max_threads` = 2', ['max_threads']],
    ["SELECT 1 SETTINGS load_balancing = 'random', max_threads = -1", ['load_balancing', 'max_threads']],
    ['SELECT settings FROM t', []],
  ])('%s', (sql, names) => {
    expect(settingsClauseNames(sql)).toEqual(names);
  });
});
