// A property: however Stripe delivers a history of webhook events (each 1-5 times, in any order,
// interleaved with processing that fails at random points), Tally ends with the same ledger, balance,
// cost center, blocks and customer state as after one in-order delivery. The inbox worker runs in
// process against one database, with an in-memory payment provider and fresh ids per run.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { inArray } from "drizzle-orm";
import fc from "fast-check";
import { storeWebhookEvent } from "../src/billing/stripe-webhook.js";
import { billingWebhookHandler, inboxRetryDelayMsMax, InboxWorker } from "../src/billing/webhook-inbox-worker.js";
import { parseAttributionId } from "../src/domain/attribution-id.js";
import { addMonths } from "../src/domain/billing-cycle.js";
import { ManualClock } from "../src/domain/clock.js";
import { initialCostCenter } from "../src/domain/cost-center.js";
import { sourceKeys, type LedgerEntry } from "../src/domain/ledger-entry.js";
import { silentLogger } from "../src/logger.js";
import { AccountService } from "../src/services/account-service.js";
import { BillingService } from "../src/services/billing-service.js";
import { CostCenterService } from "../src/services/cost-center-service.js";
import { getBalanceCents, lockAttribution } from "../src/store/balances.js";
import { listBlockHistory } from "../src/store/blocked-attributions.js";
import { getCurrentCostCenter, insertCostCenterVersion } from "../src/store/cost-centers.js";
import { openDatabase, type DatabaseHandle } from "../src/store/database.js";
import { insertEntries, listEntries, sumLedgerCents } from "../src/store/ledger.js";
import { getStripeCustomerByAttributionId, insertStripeCustomer } from "../src/store/stripe-customers.js";
import { inTransaction } from "../src/store/transactions.js";
import { stripeWebhookEvents } from "../src/store/schema.js";
import { BalanceReader } from "../src/store/balance-reader.js";
import { FakePaymentProvider } from "./support/fake-payment-provider.js";
import { createTestDatabase, type TestDatabase } from "./support/test-database.js";

/** Runs of the property; TALLY_FUZZ_RUNS overrides for a quick local loop or a long soak. */
const runs = Number(process.env.TALLY_FUZZ_RUNS ?? 1000);
const t0 = new Date("2026-03-10T09:00:00Z");
const defaultSpendingLimit = { forTeams: 7, forUsers: 500 };

interface Scenario {
  readonly usageCents: number;
  readonly invoices: ReadonlyArray<{ quantity: number; month: number }>;
  readonly taxSupported: boolean | undefined;
  readonly dispute: boolean;
  readonly cancel: boolean;
  readonly unknownEvents: number;
}

type Failure = "before" | "after" | "provider";
interface Delivery {
  readonly event: number;
  readonly order: number;
  /** Events processed right after this delivery. */
  readonly processAfter: number;
}

const scenarioArbitrary: fc.Arbitrary<Scenario> = fc.record({
  usageCents: fc.integer({ min: 0, max: 500_000 }),
  invoices: fc.array(fc.record({ quantity: fc.integer({ min: 0, max: 5000 }), month: fc.integer({ min: 1, max: 4 }) }), { minLength: 0, maxLength: 3 }),
  taxSupported: fc.option(fc.boolean(), { nil: undefined }),
  dispute: fc.boolean(),
  cancel: fc.boolean(),
  unknownEvents: fc.integer({ min: 0, max: 2 }),
});

interface World {
  readonly team: string;
  readonly customerId: string;
  readonly usageCents: number;
  readonly events: WorldEvent[];
  readonly names: Map<string, string>;
}

interface WorldEvent {
  readonly id: string;
  readonly type: string;
  readonly objectId: string;
}

describe("webhook delivery, property", () => {
  let testDatabase: TestDatabase;
  let handle: DatabaseHandle;
  let provider: FakePaymentProvider;
  let worker: InboxWorker;
  const retryClock = new ManualClock(t0);
  let failures: Failure[] = [];
  let costCenters: CostCenterService;
  let billing: BillingService;

  before(async () => {
    testDatabase = await createTestDatabase();
    handle = await openDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir, poolSize: 2 });
    const db = handle.db;
    // Services see one fixed time, so both worlds of a run are comparable; the worker has its own
    // clock, moved forwards to step over retry backoffs.
    const clock = new ManualClock(t0);
    provider = new FakePaymentProvider();
    costCenters = new CostCenterService({ db, clock, defaultSpendingLimit, stripeEnabled: true });
    const accounts = new AccountService({ db, clock, costCenters, balances: new BalanceReader(db) });
    billing = new BillingService({ db, clock, logger: silentLogger, provider, costCenters, accounts, usagePriceIds: { EUR: "price_eur", USD: "price_usd" } });
    const real = billingWebhookHandler(billing);
    worker = new InboxWorker({
      db,
      clock: retryClock,
      logger: silentLogger,
      handle: async (event) => {
        const failure = failures.shift();
        if (failure === "before") throw new Error("injected failure before processing");
        provider.failNextCall = failure === "provider";
        try {
          await real(event);
        } finally {
          provider.failNextCall = false;
        }
        if (failure === "after") throw new Error("injected failure after processing (the work was done)");
      },
    });
  });
  after(async () => {
    await handle?.close();
    await testDatabase?.drop();
  });

  /** One world: its own team, Stripe objects and event ids, with the history already in Stripe. */
  function setUpWorld(scenario: Scenario, name: string): World {
    const team = `team:${randomUUID()}`;
    const prefix = `${name}${randomUUID().slice(0, 8)}`;
    const customerId = `cus_${prefix}`;
    const subscriptionId = `sub_${prefix}`;
    provider.customers.set(customerId, {
      id: customerId,
      attributionId: team,
      preferredCurrency: "EUR",
      billingCreatorUserId: undefined,
      automaticTax: "unrecognized_location",
      created: t0,
    });
    provider.subscriptions.set(subscriptionId, {
      id: subscriptionId,
      customerId,
      status: "active",
      automaticTax: false,
      priceIds: ["price_eur"],
      itemIds: [`si_${prefix}`],
      metadata: { attributionId: team },
    });
    // What happened in Stripe, in order; the events tell Tally about it.
    const events: WorldEvent[] = [];
    const event = (type: string, objectId: string) => events.push({ id: `evt_${prefix}_${events.length}`, type, objectId });
    scenario.invoices.forEach((invoice, index) => {
      const id = `in_${prefix}_${index}`;
      const periodEnd = addMonths(t0, invoice.month);
      provider.invoices.set(id, {
        id,
        number: `N-${index}`,
        customerId,
        subscriptionId,
        status: "open",
        billingReason: "subscription_cycle",
        created: periodEnd,
        finalizedAt: new Date(periodEnd.getTime() + 3_600_000),
        periodEnd,
        lines: [{ quantity: invoice.quantity, quantityDecimal: null, periodEnd }],
      });
      event("invoice.finalized", id);
    });
    if (scenario.taxSupported !== undefined) {
      provider.customers.get(customerId)!.automaticTax = scenario.taxSupported ? "supported" : "unrecognized_location";
      event("customer.updated", customerId);
    }
    if (scenario.dispute) {
      provider.disputes.set(`dp_${prefix}`, { id: `dp_${prefix}`, chargeId: `ch_${prefix}`, customerId, reason: "fraudulent" });
      event("charge.dispute.created", `dp_${prefix}`);
    }
    if (scenario.cancel) {
      provider.subscriptions.get(subscriptionId)!.status = "canceled";
      event("customer.subscription.deleted", subscriptionId);
    }
    for (let i = 0; i < scenario.unknownEvents; i++) event("invoice.paid", `in_${prefix}_x${i}`);
    return { team, customerId, usageCents: scenario.usageCents, events, names: new Map([[team, "TEAM"], [prefix, "PREFIX"]]) };
  }

  /**
   * Tally's side of both worlds, as the services leave it after CreateStripeCustomer, a switch to
   * Stripe and some usage, written in one transaction (cheap runs).
   */
  async function seedTally(worlds: World[]): Promise<void> {
    await inTransaction(handle.db, async (tx) => {
      for (const world of worlds) {
        await lockAttribution(tx, world.team, t0);
        const initial = initialCostCenter(parseAttributionId(world.team), defaultSpendingLimit, t0);
        await insertCostCenterVersion(tx, initial, 1, t0);
        await insertCostCenterVersion(tx, { ...initial, spendingLimitCredits: 100, billingStrategy: "stripe" }, 2, t0);
        await insertStripeCustomer(tx, { stripeCustomerId: world.customerId, attributionId: world.team, currency: "EUR", invalidBillingAddress: true }, t0);
      }
      const usage = worlds.filter((world) => world.usageCents > 0);
      await insertEntries(
        tx,
        usage.map((world): LedgerEntry => {
          const instanceId = randomUUID();
          return {
            id: randomUUID(),
            attributionId: world.team,
            sourceKey: sourceKeys.workspaceInstance(instanceId),
            kind: "workspaceinstance",
            description: "usage",
            creditCents: BigInt(world.usageCents),
            effectiveTime: t0,
            workspaceInstanceId: instanceId,
            draft: false,
            metadata: {},
          };
        }),
        t0,
      );
    });
  }

  const deliver = (e: WorldEvent) =>
    storeWebhookEvent(handle.db, { id: e.id, type: e.type, data: { object: { id: e.objectId } } }, retryClock.now());

  /** Works off everything, stepping the worker's clock over backoffs. */
  async function drainAll(): Promise<void> {
    for (let round = 0; round < 100; round++) {
      await worker.drain();
      retryClock.advanceMs(inboxRetryDelayMsMax + 1000);
      if ((await worker.drain()) === 0) return;
    }
    throw new Error("the inbox did not drain");
  }

  async function stateOf(world: World) {
    const db = handle.db;
    const normalize = (text: string) => [...world.names].reduce((out, [from, to]) => out.split(from).join(to), text);
    const entries = (await listEntries(db, world.team, 1000))
      .map((e) => ({
        kind: e.kind,
        // Instance entries come from the fixture with random instance ids; the rest derive from the world's ids.
        key: e.kind === "workspaceinstance" ? "instance" : normalize(e.sourceKey),
        cents: e.creditCents,
        at: e.effectiveTime.toISOString(),
        draft: e.draft,
      }))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    const costCenter = await getCurrentCostCenter(db, world.team);
    const customer = await getStripeCustomerByAttributionId(db, world.team);
    const subscription = [...provider.subscriptions.values()].find((s) => s.metadata.attributionId === world.team);
    const balance = await getBalanceCents(db, world.team);
    assert.equal(balance, await sumLedgerCents(db, world.team), "the balance row equals SUM(ledger)");
    const stored = new Map(
      (await db.select({ id: stripeWebhookEvents.eventId, status: stripeWebhookEvents.status }).from(stripeWebhookEvents).where(inArray(stripeWebhookEvents.eventId, world.events.map((e) => e.id).concat("-")))).map((row) => [row.id, row.status]),
    );
    const statuses = world.events.map((e) => `${e.type}:${stored.get(e.id)}`);
    return {
      entries,
      balance,
      costCenter: costCenter && {
        strategy: costCenter.billingStrategy,
        limit: costCenter.spendingLimitCredits,
        start: costCenter.billingCycleStart.toISOString(),
        next: costCenter.nextBillingTime.toISOString(),
      },
      blocks: (await listBlockHistory(db, world.team)).map((b) => ({ source: normalize(b.source), reason: normalize(b.reason), active: b.unblockedAt === null })),
      invalidBillingAddress: customer?.invalidBillingAddress,
      automaticTax: subscription?.automaticTax,
      statuses,
    };
  }

  it(`ends in the state of one in-order delivery (${runs} runs)`, { timeout: 60 * 60_000 }, async () => {
    const started = performance.now();
    const cpuStarted = process.cpuUsage();
    await fc.assert(
      fc.asyncProperty(
        scenarioArbitrary,
        fc.array(fc.record({ copies: fc.integer({ min: 1, max: 5 }), keys: fc.array(fc.integer(), { minLength: 5, maxLength: 5 }), processAfter: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 5, maxLength: 5 }) }), { minLength: 10, maxLength: 10 }),
        fc.array(fc.constantFrom<Failure>("before", "after", "provider"), { maxLength: 6 }),
        async (scenario, deliveryPlan, failurePlan) => {
          // The reference: every event once, in order, nothing failing.
          failures = [];
          const reference = setUpWorld(scenario, "ref");
          const world = setUpWorld(scenario, "tst");
          await seedTally([reference, world]);
          for (const e of reference.events) await deliver(e);
          await drainAll();

          // The same history delivered 1-5 times per event, shuffled, processed in between, failing.
          const deliveries: Delivery[] = world.events.flatMap((_, index) => {
            const plan = deliveryPlan[index % deliveryPlan.length]!;
            return Array.from({ length: plan.copies }, (_, copy) => ({ event: index, order: plan.keys[copy]!, processAfter: plan.processAfter[copy]! }));
          });
          deliveries.sort((a, b) => a.order - b.order);
          failures = [...failurePlan];
          for (const delivery of deliveries) {
            await deliver(world.events[delivery.event]!);
            for (let i = 0; i < delivery.processAfter; i++) await worker.processNext();
          }
          await drainAll();

          const expected = await stateOf(reference);
          const actual = await stateOf(world);
          assert.deepEqual(actual, expected);
          assert.ok(expected.statuses.every((s) => s.endsWith(":processed") || s.endsWith(":ignored")), expected.statuses.join());
        },
      ),
      { numRuns: runs },
    );
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuStarted);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    console.log(`# webhook fuzz: ${runs} runs in ${seconds.toFixed(1)} s, ${cpuSeconds.toFixed(1)} s CPU (${((cpuSeconds * 1000) / runs).toFixed(1)} ms CPU per run)`);
  });
});
