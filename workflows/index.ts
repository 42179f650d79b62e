export { agentSession } from './agentSession';
export { benchBaseline } from './baseline';
