export { agentSession } from './agentSession';
