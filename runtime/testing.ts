/**
 * `agent-runtime/testing`: the scripted model server (real HTTP, OpenAI Chat Completions wire format, answers
 * from a script) and a Temporal dev server launcher, for tests of applications built on the runtime.
 */
export { startScriptedModelServer, hashedEmbedding, lastMessage, messageText } from './scripted-model';
export type { ScriptedModelServer, ScriptedTurn, ScriptedToolCall, ModelScript, ChatRequest, ChatRequestMessage } from './scripted-model';
export { ensureTemporal, startDevServer, findTemporalCli, isTemporalHealthy } from './temporal-server';
export type { DevServerOptions, RunningServer } from './temporal-server';
/** The prompts the runtime sends for its own tasks, so a scripted model can recognise them (memory recall, summary, compaction). */
export { MEMORY_CONTEXT_HEADER, SESSION_SUMMARY_INSTRUCTIONS, COMPACTION_INSTRUCTIONS, COMPACTED_CONTEXT_HEADER } from './memory-prompts';
