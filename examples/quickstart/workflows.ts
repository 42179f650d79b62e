// The application's own workflows: they share the worker (and its bundle) with the agent sessions.
export async function orderStatus(orderId: string): Promise<string> {
  return `order ${orderId}: shipped`;
}
