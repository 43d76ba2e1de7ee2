import { app } from "./http/app.ts";

export { BucketActor } from "./bucket/BucketActor.ts";
export { UserActor } from "./challenges/UserActor.ts";
export { Directory } from "./operations/Directory.ts";
export { RegistryShard } from "./registry/RegistryShard.ts";
export { UserRegistry } from "./registry/UserRegistry.ts";

export default app;
