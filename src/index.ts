import { app } from "./http/app.ts";

export { BucketActor } from "./bucket/BucketActor.ts";

export default app;
