/**
 * The orchestrated Worker's COLLAB_SERVICE_URL is the `by-topic` stand-in under these two key
 * prefixes (`{by-topic}/k/collab-1,{by-topic}/k/collab-2`, vitest.config.ts): two URLs whose
 * calls are counted apart, for the collaboration pool's round-robin and skip. Shared by the
 * config (Node) and the tests (workerd), so it imports nothing.
 */
export const COLLAB_POOL_KEYS = ["collab-1", "collab-2"] as const;

export function collabPoolUrls(byTopic: string): string[] {
  return COLLAB_POOL_KEYS.map((key) => `${byTopic}/k/${key}`);
}
