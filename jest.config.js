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
  // examples/ import the runtime through the package's entry points; resolve them to source (as tsconfig.json's paths do for tsc and tsx).
  moduleNameMapper: {
    '^agent-runtime$': '<rootDir>/index.ts',
    '^agent-runtime/workflow$': '<rootDir>/workflows/public.ts',
    '^agent-runtime/worker$': '<rootDir>/workers/index.ts',
    '^agent-runtime/client$': '<rootDir>/client/index.ts',
    '^agent-runtime/sandbox$': '<rootDir>/sandbox/index.ts',
    '^agent-runtime/memory$': '<rootDir>/memory/index.ts',
    '^agent-runtime/testing$': '<rootDir>/runtime/testing.ts',
  },
};
