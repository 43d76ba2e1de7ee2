import { engages, type Owed, owesOutcome, stillOwed } from "../matching/owedOutcomes.ts";

/**
 * The bucket's owed outcomes (`matching/owedOutcomes.ts`), one row per user who missed
 * something, kept in memory and in storage. Rows are written only for users absent when their
 * outcome came, so a join whose user stays connected writes none. Entries are written in the
 * same turn as the step that made them, so they commit with it: a crash keeps both or neither.
 */
export class OwedOutcomes {
  readonly #sql: SqlStorage;
  readonly #entries = new Map<string, Owed>();

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    this.#sql.exec(
      "CREATE TABLE IF NOT EXISTS owed (user_id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID",
    );
    for (const row of this.#sql.exec<{ body: string }>("SELECT body FROM owed").toArray()) {
      const entry = JSON.parse(row.body) as Owed;
      this.#entries.set(entry.userId, entry);
    }
  }

  /** The live map the core folds a step's missed frames into; `stored` persists what changed. */
  get entries(): Map<string, Owed> {
    return this.#entries;
  }

  stored(userIds: string[]): void {
    for (const userId of userIds) {
      const entry = this.#entries.get(userId);
      if (entry)
        this.#sql.exec(
          "INSERT OR REPLACE INTO owed (user_id, body) VALUES (?, ?)",
          userId,
          JSON.stringify(entry),
        );
    }
  }

  /** The user's ended request whose outcome is still owed here, if any. */
  outcomeOf(userId: string, now: number): Owed | undefined {
    const entry = this.#entries.get(userId);
    return owesOutcome(entry, now) ? entry : undefined;
  }

  /** The user's owed outcome that engages them (a match that stands), if any. */
  engaging(userId: string, now: number): Owed | undefined {
    const entry = this.#entries.get(userId);
    return engages(entry, now) ? entry : undefined;
  }

  /** Whether `requestId`'s owed outcome engages its user (its claim is kept until delivered). */
  engages(userId: string, requestId: string, now: number): boolean {
    return this.engaging(userId, now)?.requestId === requestId;
  }

  /** What is owed to the user about `requestId` (any request when omitted), removed: delivered. */
  take(userId: string, now: number, requestId?: string): Owed | undefined {
    const entry = this.#entries.get(userId);
    if (!entry || (requestId !== undefined && entry.requestId !== requestId)) return undefined;
    this.#drop(userId);
    return stillOwed(entry, now) ? entry : undefined;
  }

  /** When the next entry runs out; null when none is kept. */
  get nextUntil(): number | null {
    let next: number | null = null;
    for (const e of this.#entries.values()) if (next === null || e.until < next) next = e.until;
    return next;
  }

  /** Drop entries whose grace is over; those that engaged their user are returned (their claims can go). */
  expire(now: number): Owed[] {
    const engaged: Owed[] = [];
    for (const e of [...this.#entries.values()]) {
      if (e.until > now) continue;
      if (engages(e, e.until - 1)) engaged.push(e);
      this.#drop(e.userId);
    }
    return engaged;
  }

  #drop(userId: string): void {
    if (this.#entries.delete(userId)) this.#sql.exec("DELETE FROM owed WHERE user_id = ?", userId);
  }
}
