/**
 * `npm run test:chaos`: the chaos suite (test/chaos) alone, at the scale GATEHOUSE_CHAOS_SCALE says (the script sets
 * `long`). `npm test` runs the same files at the default `short` scale through jest.config.js.
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  roots: ['<rootDir>/test/chaos'],
  // One file at a time: the scenarios measure the proxy's memory and timings, which parallel files would disturb.
  maxWorkers: 1,
  testTimeout: 3_600_000,
};
