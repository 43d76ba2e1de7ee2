DROP INDEX "matches_user_a_created_idx";--> statement-breakpoint
DROP INDEX "matches_user_b_created_idx";--> statement-breakpoint
ALTER TABLE "match_requests" ADD COLUMN "version" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "matches" ADD COLUMN "version" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "matches_user_a_created_idx" ON "matches" USING btree ("user_a","created_at","id");--> statement-breakpoint
CREATE INDEX "matches_user_b_created_idx" ON "matches" USING btree ("user_b","created_at","id");