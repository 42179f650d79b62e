/** `npm run test:long`: the 5,000-step session (test/long). Its own config: it takes minutes, not seconds. */
const base = require('./jest.config');

module.exports = {
  ...base,
  roots: ['<rootDir>/test/long'],
  testPathIgnorePatterns: ['/node_modules/'],
  testTimeout: 30 * 60_000,
};
