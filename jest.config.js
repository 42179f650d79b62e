/** Tests run against real services (Temporal dev server, bubblewrap, SQLite, PostgreSQL): serial, generous timeouts. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // The 5,000-step session has its own command (`npm run test:long`, jest.long.config.js).
  testPathIgnorePatterns: ['/node_modules/', '/test/long/'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  testTimeout: 120_000,
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  verbose: true,
};
