DROP INDEX "match_requests_user_created_idx";--> statement-breakpoint
DROP INDEX "matches_user_a_created_idx";--> statement-breakpoint
DROP INDEX "matches_user_b_created_idx";--> statement-breakpoint
DROP INDEX "matches_created_topic_idx";--> statement-breakpoint
ALTER TABLE "match_requests" ADD COLUMN "tenant_id" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
ALTER TABLE "matches" ADD COLUMN "tenant_id" text DEFAULT 'default' NOT NULL;--> statement-breakpoint
CREATE INDEX "match_requests_user_created_idx" ON "match_requests" USING btree ("tenant_id","user_id","created_at");--> statement-breakpoint
CREATE INDEX "matches_user_a_created_idx" ON "matches" USING btree ("tenant_id","user_a","created_at","id");--> statement-breakpoint
CREATE INDEX "matches_user_b_created_idx" ON "matches" USING btree ("tenant_id","user_b","created_at","id");--> statement-breakpoint
CREATE INDEX "matches_created_topic_idx" ON "matches" USING btree ("tenant_id","created_at","topic");