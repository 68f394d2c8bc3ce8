import { describeServiceUnder } from "./service-suite.js";

describeServiceUnder("bun");
