import path from 'node:path';

export const WORKFLOW_BUNDLE = path.resolve(__dirname, '..', '..', '.data', 'test', 'workflow-bundle.js');
