// GET /metrics after real traffic: RPC latency histograms and error counts, job gauges, ledger lag,
// webhook inbox backlog. The server runs without TALLY_API_TOKENS, so this file also checks what
// an open server allows (one server start fewer).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AuditService } from "../src/gen/usage/v1/audit_pb.js";
import { insertInboxEvent } from "../src/store/webhook-inbox.js";
import { teamId } from "./support/ledger-fixtures.js";
import { startTestTally, type TestTally } from "./support/test-tally.js";

/** The value of one sample line, e.g. sample(text, 'tally_rpc_errors_total{...}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("GET /metrics", () => {
  let t: TestTally;
  before(async () => {
    t = await startTestTally();
  });
  after(async () => {
    await t?.stop();
  });
  const scrape = async () => {
    const response = await fetch(`${t.tally.url}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    return response.text();
  };

  it("has a latency histogram per RPC and counts errors by code", async () => {
    const id = teamId();
    for (let i = 0; i < 3; i++) await t.usage.getBalance({ attributionId: id });
    await t.usageJson.getBalance({ attributionId: "not-an-id" }).catch(() => {});
    await t.usage.addUsageCreditNote({ attributionId: id, credits: 5, description: "" }).catch(() => {});
    const text = await scrape();
    const ok = 'service="usage.v1.UsageService",method="GetBalance",code="OK"';
    assert.equal(sample(text, `tally_rpc_duration_seconds_count{${ok}}`), 3);
    assert.equal(sample(text, `tally_rpc_duration_seconds_bucket{le="+Inf",${ok}}`), 3);
    assert.ok((sample(text, `tally_rpc_duration_seconds_sum{${ok}}`) ?? -1) > 0);
    assert.equal(sample(text, 'tally_rpc_errors_total{service="usage.v1.UsageService",method="GetBalance",code="INVALID_ARGUMENT"}'), 1);
    assert.equal(sample(text, 'tally_rpc_errors_total{service="usage.v1.UsageService",method="AddUsageCreditNote",code="INVALID_ARGUMENT"}'), 1);
    assert.equal(sample(text, `tally_rpc_errors_total{${ok}}`), undefined, "successes are not errors");
  });

  it("shows job last success and duration, fed by a run or by a scrape callback", async () => {
    t.tally.metrics.recordJobRun("reset", { outcome: "success", durationMs: 1500, finishedAt: new Date("2026-01-15T11:00:00Z") });
    t.tally.metrics.recordJobRun("reset", { outcome: "failure", durationMs: 20, finishedAt: new Date("2026-01-15T11:15:00Z") });
    t.tally.metrics.onScrape("jobs-from-database", () => t.tally.metrics.setJobStatus("ledger", new Date("2026-01-15T11:59:00Z"), 250));
    const text = await scrape();
    assert.equal(sample(text, 'tally_job_last_success_timestamp_seconds{job="reset"}'), Date.parse("2026-01-15T11:00:00Z") / 1000);
    assert.equal(sample(text, 'tally_job_last_duration_seconds{job="reset"}'), 1.5);
    assert.equal(sample(text, 'tally_job_runs_total{job="reset",outcome="success"}'), 1);
    assert.equal(sample(text, 'tally_job_runs_total{job="reset",outcome="failure"}'), 1);
    assert.equal(sample(text, 'tally_job_last_success_timestamp_seconds{job="ledger"}'), Date.parse("2026-01-15T11:59:00Z") / 1000);
    assert.equal(sample(text, 'tally_job_last_duration_seconds{job="ledger"}'), 0.25);
  });

  it("counts the scheduler's own runs, and reads the inbox backlog and its oldest event from the database", async () => {
    const runs = async () => sample(await scrape(), 'tally_job_runs_total{job="reset",outcome="success"}') ?? 0;
    const before = await runs();
    const outcome = await t.tally.jobs.runOnce("reset");
    assert.equal(outcome.ran && outcome.ok, true);
    assert.equal(await runs(), before + 1);
    await insertInboxEvent(
      t.tally.database.db,
      { eventId: "evt_metrics_backlog", type: "invoice.finalized", objectId: "in_1", payload: {}, status: "pending" },
      new Date(t.clock.now().getTime() - 45_000),
    );
    const text = await scrape();
    assert.equal(sample(text, "tally_webhook_inbox_backlog"), 1);
    assert.equal(sample(text, "tally_webhook_inbox_oldest_age_seconds"), 45);
  });

  it("shows the ledger lag against the server's clock and the webhook inbox backlog", async () => {
    t.tally.metrics.setLedgerBookedUntil(new Date(t.clock.now().getTime() - 90_000));
    t.tally.metrics.onScrape("webhook-inbox", () => t.tally.metrics.setWebhookInboxBacklog(4, new Date(t.clock.now().getTime() - 30_000)));
    let text = await scrape();
    assert.equal(sample(text, "tally_ledger_lag_seconds"), 90);
    assert.equal(sample(text, "tally_webhook_inbox_backlog"), 4);
    assert.equal(sample(text, "tally_webhook_inbox_oldest_age_seconds"), 30);
    t.clock.advanceMs(60_000);
    text = await scrape();
    assert.equal(sample(text, "tally_ledger_lag_seconds"), 150);
  });

  it("survives a failing scrape callback and counts it", async () => {
    t.tally.metrics.onScrape("broken", () => {
      throw new Error("database gone");
    });
    const text = await scrape();
    assert.equal(sample(text, 'tally_metrics_scrape_callback_errors_total{callback="broken"}'), 1);
    assert.match(text, /^process_cpu_user_seconds_total /m);
    t.tally.metrics.onScrape("broken", () => {});
  });

  describe("with access control off (no TALLY_API_TOKENS)", () => {
    it("lets callers without a token read and change, serves /metrics, and audits the actor as anonymous", async () => {
      const id = teamId();
      await t.usageJson.resetUsage({});
      await t.usageJson.addUsageCreditNote({ attributionId: id, credits: 1, description: "open server" });
      assert.equal((await t.usageJson.getBalance({ attributionId: id })).credits, -1);
      assert.equal((await fetch(`${t.tally.url}/metrics`)).status, 200);
      const audit = createClient(AuditService, createConnectTransport({ baseUrl: t.tally.url, httpVersion: "1.1" }));
      const { entries } = await audit.listAuditEntries({ attributionId: id });
      assert.deepEqual(entries.map((e) => [e.actor, e.procedure]), [["anonymous", "usage.v1.UsageService/AddUsageCreditNote"]]);
    });
  });
});
