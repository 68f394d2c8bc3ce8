import { runService } from "./run-service.js";
import { startServer } from "./transport/node-server.js";

// The service under Node (`npm start`): every protocol, native gRPC included, on one port.
void runService({ runtime: "node", protocols: ["grpc", "grpc-web", "connect", "rest"], listen: startServer });
