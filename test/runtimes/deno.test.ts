import { describeServiceUnder } from "./service-suite.js";

describeServiceUnder("deno");
