import init from "./dashboard_web.js";

init();
