// The service under Deno: `deno task start` (see deno.json).
import { runService } from "../run-service.js";
import { denoServer } from "./deno-server.js";

await runService(denoServer);
