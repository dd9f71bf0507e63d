/** Unit, property and golden tests need no server; integration tests start real ClickHouse/Redis. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true, diagnostics: false }] },
  testTimeout: 60000,
  globalTeardown: '<rootDir>/test/helpers/global-teardown.js',
};
