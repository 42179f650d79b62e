/**
 * Where the worker runs workflow activations.
 *
 * The SDK's default ('threaded') runs every activation in a worker thread, inside `vm.runInContext` with a
 * timeout; Node implements that timeout by starting and joining a watchdog thread on every call, and a
 * process-wide promise hook records a stack for every promise the workflow creates (for the Web UI's
 * "Stack Trace" tab). For a session step (two activations, a handful of calls into the VM each) those
 * three costs were most of the worker's CPU and about half of the step's latency (examples/bench/RESULTS.md).
 *
 * 'inline' (the default for agent workers) runs the same reusable V8 context on the worker's main thread
 * with no per-call watchdog and no promise hook. The isolation between workflows is unchanged (it is the
 * SDK's own executor, the one its debug mode uses). What is given up:
 *   - deadlock detection: a workflow stuck in a synchronous loop would block the worker instead of failing
 *     its task after 5 s. The session workflow has no unbounded synchronous loop (its loops are bounded by
 *     the step budget and the transcript page size) and is the only workflow agent workers run;
 *     a worker that hosts other teams' workflows can choose 'threaded'.
 *   - the "Stack Trace" tab of the Web UI, unless WORKFLOW_STACK_TRACES=1 (which costs a stack capture per
 *     promise, process-wide). Sessions describe what they wait on in their memo, search attributes and the
 *     state query instead.
 * The module reaches into @temporalio/worker's internals (pinned to an exact version in package.json); if
 * they change shape, `workflowWorkerClass` falls back to the SDK's default executor and says so.
 */
import { Worker, type Logger } from '@temporalio/worker';

export type WorkflowExecutor = 'inline' | 'threaded';

interface ReusableVmInternals {
  ReusableVMWorkflowCreator: {
    create(bundle: unknown, isolateExecutionTimeoutMs: number | undefined, registeredActivityNames: Set<string>, patchActivationCallback?: unknown): Promise<unknown>;
  };
}
interface GlobalHandlerInternals {
  globalHandlers: { stopPromiseHook(): void; promiseHookInstalled: boolean };
}

function loadInternals(): { vm: ReusableVmInternals; shared: GlobalHandlerInternals } | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const vm = require('@temporalio/worker/lib/workflow/reusable-vm') as ReusableVmInternals;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const shared = require('@temporalio/worker/lib/workflow/vm-shared') as GlobalHandlerInternals;
    if (typeof vm.ReusableVMWorkflowCreator?.create !== 'function') return undefined;
    if (typeof shared.globalHandlers?.stopPromiseHook !== 'function') return undefined;
    return { vm, shared };
  } catch {
    return undefined;
  }
}

type CreatorArgs = Parameters<(typeof Worker)['createWorkflowCreator']>;

function inlineWorkerClass(stackTraces: boolean): typeof Worker | undefined {
  const internals = loadInternals();
  if (!internals) return undefined;
  const { vm, shared } = internals;
  // A class per call: it closes over this call's `stackTraces` (a cached class would keep the first caller's).
  return class InlineWorkflowWorker extends Worker {
    protected static override async createWorkflowCreator(bundle: CreatorArgs[0], options: CreatorArgs[1], logger: Logger) {
      // A patch-activation callback needs the SDK's own plumbing: keep its executor for such workers.
      if (options.patchActivationCallback) return super.createWorkflowCreator(bundle, options, logger);
      const creator = await vm.ReusableVMWorkflowCreator.create(
        bundle,
        // No timeout: no watchdog thread per call into the workflow (see the module comment).
        undefined,
        new Set(options.activities.keys()),
      );
      // The hook is installed once per process by the first creator; stopping it is process-wide and
      // cannot be undone, so a process chooses once (workers of other kinds run in their own threads).
      if (!stackTraces && shared.globalHandlers.promiseHookInstalled) {
        shared.globalHandlers.stopPromiseHook();
        shared.globalHandlers.promiseHookInstalled = false;
      }
      return creator as Awaited<ReturnType<(typeof Worker)['createWorkflowCreator']>>;
    }
  };
}

/** The Worker class to create a worker with, for the chosen executor. */
export function workflowWorkerClass(executor: WorkflowExecutor, opts: { stackTraces: boolean; warn?: (msg: string) => void }): typeof Worker {
  if (executor === 'threaded') return Worker;
  const cls = inlineWorkerClass(opts.stackTraces);
  if (cls) return cls;
  opts.warn?.('WORKFLOW_EXECUTOR=inline is not available with this @temporalio/worker version; using the SDK default (threaded)');
  return Worker;
}
