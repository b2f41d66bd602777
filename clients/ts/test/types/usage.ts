// Compile-time checks of the published types (tsc -p test/types): what a
// user writes must type-check, and the mistakes below must not.
import { createClient, type EventClient, type Stats } from "../../dist/index.js";

const c: EventClient = createClient({
  baseUrl: "https://events.example.com",
  clientId: "web",
  header: { sessionId: "s-1", userId: "u-1" },
  onRejected: (rs) => rs.map((r) => r.id + r.reason + r.event.timestamp),
  onDropped: (d) => d.reason === "queue_full" && d.events.length,
});
const id: string = c.track("pageOpenedEvent", { pageName: "home", pageUrl: "/" });
c.track("addToCartEvent", { productId: "sku-1", price: 1.5, quantity: 2n });
c.track({ eventOf: { case: "customEvent", value: { name: "PollVoted", params: { poll: "p1" } } } });
c.track({ id, timestamp: "1718000000123", eventOf: { case: "testEvent", value: { name: "t" } } });
c.setHeader({ userId: "u-2" });
void c.flush();
void c.close().then((s: Stats) => s.droppedByReason.close_timeout + s.accepted);

// The generic calls: free names, free-form JSON, per-call options.
const gid: string = c.track("Order Completed", { revenue: 49.5, items: [{ sku: "a" }], gift: false }, { userId: "u-9", messageId: "m-1" });
c.identify("u-1", { email: "a@example.com" });
c.identify({ plan: "pro" }, { timestamp: new Date() });
c.page("Home", { path: "/" }, { category: "Docs" });
c.screen("Settings");
c.group("acme", { employees: 12 });
c.alias("u-2");
c.reset();
const who: { userId: string; anonymousId: string } = c.identity();
c.optOut();
c.optOut(false);
c.optIn();
const out: boolean = c.optedOut();
void [gid, who, out];
createClient({ baseUrl: "https://e.example.com", gzip: false, gzipMinBytes: 0, debug: true, optOut: true, logger: (r) => r.event + r.message });
// @ts-expect-error: properties must be an object
c.track("Order Completed", "revenue");
// @ts-expect-error: group needs the group id
c.group({ employees: 1 });
// @ts-expect-error: a field of another event type
c.track("pageOpenedEvent", { productId: "x" });
// @ts-expect-error: baseUrl is required
createClient({});
