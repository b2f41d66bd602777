// The published CommonJS types (package.json exports "require"): what a
// require() user writes must type-check. The package refers to itself by
// name, so this resolves through the exports map as a dependent's would.
import { createClient, type EventClient } from "@event-grpc/client";
import sdk = require("@event-grpc/client");

const c: EventClient = createClient({ baseUrl: "https://events.example.com", clientId: "node" });
const id: string = c.track("pageOpenedEvent", { pageName: "home", pageUrl: "/" });
void id;
const version: string = sdk.SDK_VERSION;
void version;
c.track("Signed Up", { plan: "pro" }, { anonymousId: "a-1" });
// @ts-expect-error: a field of another event type
c.track("pageOpenedEvent", { productId: "x" });
