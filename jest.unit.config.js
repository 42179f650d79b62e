/**
 * The fast layer: unit tests of pure modules (test/unit) and workflow tests on Temporal's time-skipping
 * test server with mocked activities (test/workflow). No dev server, sandbox or database: `npm run test:unit`.
 * `npm test` runs these too, with the end-to-end layers.
 */
const base = require('./jest.config');

module.exports = {
  ...base,
  roots: ['<rootDir>/test/unit', '<rootDir>/test/workflow'],
  testTimeout: 60_000,
};
