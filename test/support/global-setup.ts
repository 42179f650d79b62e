import { writeWorkflowBundle } from './paths';

export default async function globalSetup(): Promise<void> {
  await writeWorkflowBundle();
}
