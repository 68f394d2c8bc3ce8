// The service under Bun: `npx bun run src/entry/bun.ts`.
import { runService } from "../run-service.js";
import { bunServer } from "./bun-server.js";

await runService(bunServer);
