import { app } from "./http/app.ts";

export { BucketActor } from "./bucket/BucketActor.ts";
export { UserRegistry } from "./registry/UserRegistry.ts";

export default app;
