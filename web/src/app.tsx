// The dashboard: find an attribution id, then its balance, usage, history and credit notes; or
// manage the webhook endpoints. The view lives in the path (/attributions/<id>, /endpoints), so
// views can be bookmarked and shared.
import { useEffect, useState } from "preact/hooks";
import { parseAttributionId } from "../../src/domain/attribution-id.js";
import { AuditLog } from "./components/audit-log.js";
import { CostCenterHistory } from "./components/cost-center-history.js";
import { CostCenterForm } from "./components/cost-center-form.js";
import { CreditNoteForm } from "./components/credit-note-form.js";
import { EndpointsView } from "./components/endpoints-view.js";
import { EventsTable } from "./components/events-table.js";
import { OverviewCard } from "./components/overview-card.js";
import { PaymentsTable } from "./components/payments-table.js";
import { SearchForm } from "./components/search-form.js";
import { TeamList } from "./components/team-list.js";
import { TokenPanel } from "./components/token-panel.js";
import { UsageChart } from "./components/usage-chart.js";
import { UsageFilters, type UsageFilter } from "./components/usage-filters.js";
import { UsageTable } from "./components/usage-table.js";
import { daysBefore, todayUtc } from "./format.js";

const routePrefix = "/attributions/";
const endpointsPath = "/endpoints";

interface Route {
  /** The attribution id shown, or "" for the team list (or the endpoints). */
  readonly id: string;
  readonly endpoints?: boolean;
  readonly error?: string;
}

function routeFromLocation(): Route {
  const path = window.location.pathname;
  if (path === endpointsPath) return { id: "", endpoints: true };
  if (!path.startsWith(routePrefix)) return { id: "" };
  const text = decodeURIComponent(path.slice(routePrefix.length));
  try {
    return { id: parseAttributionId(text, "attribution id").text };
  } catch (error) {
    return { id: "", error: (error as Error).message };
  }
}

export function App() {
  const [route, setRoute] = useState<Route>(routeFromLocation);
  // Bumped when something may have changed every view: a new token.
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    const onPop = () => setRoute(routeFromLocation());
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  useEffect(() => {
    document.title = route.id ? `${route.id} · Tally` : route.endpoints ? "Webhook endpoints · Tally" : "Tally admin";
  }, [route.id, route.endpoints]);

  const find = (id: string) => {
    if (id !== route.id || route.endpoints) window.history.pushState(null, "", routePrefix + encodeURIComponent(id));
    setRoute({ id });
  };
  /** Follows an in-app link without reloading the page (a new tab still gets the link). */
  const follow = (path: string, next: Route) => (event: MouseEvent) => {
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    if (window.location.pathname !== path) window.history.pushState(null, "", path);
    setRoute(next);
  };

  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="/">
          <img src="/favicon.svg" alt="" width={24} height={24} />
          Tally <span class="brand__sub">admin</span>
        </a>
        <nav class="topnav" aria-label="Views">
          <a href="/" aria-current={!route.endpoints ? "page" : undefined} onClick={follow("/", { id: "" })}>
            Teams
          </a>
          <a href={endpointsPath} aria-current={route.endpoints ? "page" : undefined} onClick={follow(endpointsPath, { id: "", endpoints: true })}>
            Webhooks
          </a>
        </nav>
        <TokenPanel onChange={() => setGeneration((g) => g + 1)} />
      </header>
      <main id="main" class="page">
        {route.endpoints ? <EndpointsView key={generation} /> : <AttributionsPage route={route} generation={generation} find={find} />}
      </main>
    </>
  );
}

function AttributionsPage({ route, generation, find }: { route: Route; generation: number; find: (id: string) => void }) {
  return (
    <>
      <SearchForm key={route.id} initial={route.id} onFind={find} />
      {route.error && (
        <p class="error-box" role="alert">
          {route.error}
        </p>
      )}
      {route.id ? (
        <AttributionView key={`${route.id}#${generation}`} attributionId={route.id} />
      ) : (
        <>
          <p class="intro">
            Enter a team or user attribution id (also one never seen) or pick one from the list to see its balance against
            its spending limit, its usage, history, events and audit log, to change its limit, add or subtract credits and
            lift a block.
          </p>
          <TeamList key={generation} onOpen={find} />
        </>
      )}
    </>
  );
}

function AttributionView({ attributionId }: { attributionId: string }) {
  // Bumped after a change made on this page (a credit note, a lifted block): the views reload.
  const [version, setVersion] = useState(0);
  const changed = () => setVersion((v) => v + 1);
  const [filter, setFilter] = useState<UsageFilter>(() => {
    const to = todayUtc();
    return { from: daysBefore(to, 29), to, userId: "" };
  });
  return (
    <>
      <h1 class="attribution-title">
        <span class="badge badge--kind">{attributionId.startsWith("team:") ? "Team" : "User"}</span>
        <span class="mono" data-testid="attribution-id">
          {attributionId}
        </span>
      </h1>
      <div class="grid">
        <div class="span-7">
          <OverviewCard attributionId={attributionId} version={version} onChanged={changed} />
        </div>
        <section class="card span-5" aria-labelledby="credit-note-title">
          <h2 id="credit-note-title">Add or subtract credits</h2>
          <CreditNoteForm attributionId={attributionId} onAdded={changed} />
        </section>
        <div class="span-5">
          <CostCenterForm attributionId={attributionId} version={version} onChanged={changed} />
        </div>
        <div class="span-7">
          <EventsTable attributionId={attributionId} version={version} />
        </div>
        <div class="span-12">
          <UsageFilters value={filter} onApply={setFilter} />
        </div>
        <div class="span-12">
          <UsageChart attributionId={attributionId} filter={filter} />
        </div>
        <div class="span-12">
          <UsageTable attributionId={attributionId} filter={filter} />
        </div>
        <div class="span-6">
          <CostCenterHistory attributionId={attributionId} version={version} />
        </div>
        <div class="span-6">
          <PaymentsTable attributionId={attributionId} version={version} />
        </div>
        <div class="span-12">
          <AuditLog attributionId={attributionId} version={version} />
        </div>
      </div>
    </>
  );
}
