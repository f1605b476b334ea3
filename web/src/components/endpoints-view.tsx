// The webhook endpoints (EventService): the list with event types, pending and failed deliveries and
// the secret's rotation state; adding one (its secret is shown once, as `tally endpoints add` does);
// removing one and rotating its secret behind a confirmation; the recent events with their
// deliveries, of every endpoint or of the one picked.
import { useState } from "preact/hooks";
import { accountEventTypes } from "../../../src/domain/account-event.js";
import { Endpoint_Source, type Endpoint } from "../../../src/gen/usage/v1/event_pb.js";
import { actionKey, describeError, eventClient } from "../api.js";
import { formatUtc } from "../format.js";
import { useRemote } from "../use-remote.js";
import { ConfirmDialog } from "./confirm-dialog.js";
import { ErrorBox } from "./error-box.js";
import { EventsTable } from "./events-table.js";
import { Loading } from "./loading.js";

/** What each event type means, next to its checkbox. */
const eventTypeHints: Record<(typeof accountEventTypes)[number], string> = {
  "limit.warning": "passed the warning share of the spending limit",
  "limit.reached": "reached the spending limit",
  "limit.cleared": "back under the limit (reset, credit note, raised limit)",
  "attribution.blocked": "blocked (e.g. a disputed charge)",
  "attribution.unblocked": "block lifted",
  "invoice.booked": "an invoice was booked",
  "credit_note.added": "credits added or subtracted",
  "cost_center.changed": "limit or billing strategy changed",
};

/** A secret just made: shown once, never again (the list shows only its first characters). */
interface ShownSecret {
  readonly url: string;
  readonly secret: string;
  readonly why: "added" | "rotated";
  readonly previousValidUntil?: string;
}

export function EndpointsView() {
  // Bumped after a change here: the list and the deliveries reload.
  const [version, setVersion] = useState(0);
  const changed = () => setVersion((v) => v + 1);
  const [shown, setShown] = useState<ShownSecret>();
  const [picked, setPicked] = useState<Endpoint>();
  return (
    <>
      <h1 class="page-title">Webhook endpoints</h1>
      <p class="intro">
        Tally POSTs account events to these endpoints, signed as Standard Webhooks says (see the README for how a receiver
        verifies them), at least once and in order per attribution id.
      </p>
      <div class="grid">
        {shown && (
          <div class="span-12">
            <SecretNotice shown={shown} onDismiss={() => setShown(undefined)} />
          </div>
        )}
        <div class="span-12">
          <EndpointList
            version={version}
            picked={picked?.id}
            onPick={setPicked}
            onChanged={(removedId) => {
              if (removedId && removedId === picked?.id) setPicked(undefined);
              changed();
            }}
            onSecret={setShown}
          />
        </div>
        <section class="card span-12" aria-labelledby="add-endpoint-title">
          <h2 id="add-endpoint-title">Add an endpoint</h2>
          <AddEndpointForm
            onAdded={(secret) => {
              setShown(secret);
              changed();
            }}
          />
        </section>
        <div class="span-12">
          <EventsTable
            key={picked?.id ?? "all"}
            endpointId={picked?.id}
            version={version}
            title={picked ? `Deliveries to ${picked.url}` : "Recent events and deliveries"}
            emptyText={picked ? "No event went to this endpoint yet." : "No account events yet."}
          />
        </div>
      </div>
    </>
  );
}

function SecretNotice({ shown, onDismiss }: { shown: ShownSecret; onDismiss: () => void }) {
  const [copied, setCopied] = useState<string>();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(shown.secret);
      setCopied("Copied.");
    } catch {
      // The clipboard API needs https or localhost: the operator selects the text instead.
      setCopied("Copying is not allowed here: select the secret and copy it.");
    }
  };
  return (
    <section class="card secret-notice" aria-labelledby="secret-title" data-testid="new-secret">
      <h2 id="secret-title">{shown.why === "added" ? "Endpoint added: its signing secret" : "Secret rotated: the new signing secret"}</h2>
      <p>
        For <span class="mono">{shown.url}</span>. <strong>Shown only now</strong>: copy it to the receiver; Tally shows just its
        first characters from now on.
        {shown.previousValidUntil && ` Until ${shown.previousValidUntil} UTC deliveries are signed with the previous secret too.`}
      </p>
      <code class="secret-notice__secret" data-testid="secret-value">
        {shown.secret}
      </code>
      <div class="form-actions">
        <button type="button" class="button button--small" onClick={() => void copy()}>
          Copy
        </button>
        <button type="button" class="button button--small button--quiet" onClick={onDismiss}>
          Done, hide it
        </button>
        <span class="form-status" role="status" aria-live="polite">
          {copied ?? ""}
        </span>
      </div>
    </section>
  );
}

type Pending = { action: "remove" | "rotate"; endpoint: Endpoint };

function EndpointList(props: {
  version: number;
  picked: string | undefined;
  onPick: (endpoint: Endpoint | undefined) => void;
  onChanged: (removedId?: string) => void;
  onSecret: (shown: ShownSecret) => void;
}) {
  const endpoints = useRemote((signal) => eventClient.listEndpoints({}, { signal }), [props.version]);
  const [pending, setPending] = useState<Pending>();
  const [status, setStatus] = useState<{ kind: "idle" | "busy" | "done" | "failed"; message?: string }>({ kind: "idle" });
  const [key] = useState(actionKey);
  const list = endpoints.data?.endpoints ?? [];

  const confirm = async () => {
    if (!pending) return;
    setStatus({ kind: "busy" });
    const request = { endpointId: pending.endpoint.id };
    try {
      if (pending.action === "remove") {
        const answer = await eventClient.removeEndpoint(request, key.options({ remove: request }));
        key.done();
        const canceled = Number(answer.canceledDeliveries);
        setStatus({
          kind: "done",
          message: `Removed ${pending.endpoint.url}${canceled > 0 ? `; ${canceled} pending ${canceled === 1 ? "delivery" : "deliveries"} canceled` : ""}.`,
        });
        props.onChanged(pending.endpoint.id);
      } else {
        const answer = await eventClient.rotateEndpointSecret(request, key.options({ rotate: request }));
        key.done();
        setStatus({ kind: "done", message: `Rotated the secret of ${pending.endpoint.url}.` });
        props.onSecret({ url: pending.endpoint.url, secret: answer.secret, why: "rotated", previousValidUntil: formatUtc(answer.previousSecretExpireTime) });
        props.onChanged();
      }
      setPending(undefined);
    } catch (error) {
      setStatus({ kind: "failed", message: describeError(error) });
    }
  };

  return (
    <section class="card" aria-labelledby="endpoints-title" aria-busy={endpoints.loading}>
      <div class="card__header">
        <h2 id="endpoints-title">Endpoints</h2>
        <div class="card__tools">
          {endpoints.data && (
            <p class="card__meta" data-testid="endpoints-total">
              {list.length} {list.length === 1 ? "endpoint" : "endpoints"}
            </p>
          )}
          <button type="button" class="button button--small button--quiet" disabled={endpoints.loading} onClick={endpoints.reload}>
            {endpoints.loading && endpoints.data ? "Refreshing…" : "Refresh"}
          </button>
        </div>
      </div>
      <ErrorBox message={endpoints.error} />
      {!endpoints.data && endpoints.loading && <Loading lines={3} label="Loading the endpoints…" />}
      {endpoints.data && list.length === 0 && <p class="empty">No endpoint yet: add one below.</p>}
      {list.length > 0 && (
        <div class="table-wrap">
          <table class="table" data-testid="endpoints">
            <thead>
              <tr>
                <th scope="col">URL</th>
                <th scope="col">Event types</th>
                <th scope="col">State</th>
                <th scope="col">Secret</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.map((endpoint) => (
                <EndpointRow
                  key={endpoint.id}
                  endpoint={endpoint}
                  picked={props.picked === endpoint.id}
                  busy={status.kind === "busy"}
                  onPick={() => props.onPick(props.picked === endpoint.id ? undefined : endpoint)}
                  onAsk={(action) => {
                    setStatus({ kind: "idle" });
                    setPending({ action, endpoint });
                  }}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {pending && (
        <ConfirmDialog
          id="endpoint-confirm"
          title={pending.action === "remove" ? "Remove this endpoint?" : "Rotate this endpoint's secret?"}
          confirmLabel={pending.action === "remove" ? "Remove endpoint" : "Rotate secret"}
          busyLabel={pending.action === "remove" ? "Removing…" : "Rotating…"}
          busy={status.kind === "busy"}
          danger={pending.action === "remove"}
          onConfirm={() => void confirm()}
          onCancel={() => setPending(undefined)}
        >
          <li>
            <span class="mono">{pending.endpoint.url}</span>
          </li>
          {pending.action === "remove" ? (
            <>
              <li>Tally stops delivering to it; its {Number(pending.endpoint.pendingDeliveries)} pending deliveries are canceled.</li>
              <li>Its events and delivery attempts stay listed.</li>
            </>
          ) : (
            <>
              <li>A new secret is made and shown once.</li>
              <li>The current secret stays valid for 24 hours: deliveries carry a signature with each, so the receiver can switch over.</li>
            </>
          )}
        </ConfirmDialog>
      )}
      <p class={`form-status form-status--${status.kind}`} role="status" aria-live="polite">
        {status.message ?? ""}
      </p>
    </section>
  );
}

function EndpointRow(props: { endpoint: Endpoint; picked: boolean; busy: boolean; onPick: () => void; onAsk: (action: Pending["action"]) => void }) {
  const { endpoint } = props;
  const fromConfig = endpoint.source === Endpoint_Source.CONFIG;
  const pendingCount = Number(endpoint.pendingDeliveries);
  const failedCount = Number(endpoint.failedDeliveries);
  return (
    <tr data-endpoint-id={endpoint.id} class={props.picked ? "row--picked" : undefined}>
      <th scope="row">
        <span class="mono">{endpoint.url}</span>
        {endpoint.description && <div class="muted endpoint__description">{endpoint.description}</div>}
        <div class="muted">
          {fromConfig ? "from the configuration" : "added"} {formatUtc(endpoint.createdTime)}
        </div>
      </th>
      <td>
        <ul class="chips">
          {endpoint.eventTypes.map((type) => (
            <li key={type}>
              <code>{type}</code>
            </li>
          ))}
        </ul>
      </td>
      <td>
        <span class="badge badge--ok">Enabled</span>
        <div class="muted">
          {pendingCount} pending
          {failedCount > 0 ? (
            <>
              , <span class="status-error">{failedCount} failed</span>
            </>
          ) : (
            ", 0 failed"
          )}
        </div>
      </td>
      <td>
        <span class="mono">{endpoint.secretHint}</span>
        {endpoint.previousSecretExpireTime ? (
          <div>
            <span class="badge badge--warn" data-testid="rotation">
              Rotating
            </span>{" "}
            <span class="muted">previous valid until {formatUtc(endpoint.previousSecretExpireTime)}</span>
          </div>
        ) : (
          <div class="muted">one secret</div>
        )}
      </td>
      <td>
        <div class="row-actions">
          <button type="button" class="button button--small" aria-pressed={props.picked} onClick={props.onPick}>
            Deliveries
          </button>
          <button
            type="button"
            class="button button--small"
            disabled={fromConfig || props.busy}
            title={fromConfig ? "Rotated in the configuration (eventEndpoints)" : undefined}
            onClick={() => props.onAsk("rotate")}
          >
            Rotate secret…
          </button>
          <button
            type="button"
            class="button button--small"
            disabled={fromConfig || props.busy}
            title={fromConfig ? "Removed in the configuration (eventEndpoints)" : undefined}
            onClick={() => props.onAsk("remove")}
          >
            Remove…
          </button>
        </div>
      </td>
    </tr>
  );
}

interface FormErrors {
  url?: string;
  types?: string;
}

function validate(url: string, types: readonly string[]): FormErrors {
  const errors: FormErrors = {};
  const text = url.trim();
  if (text === "") errors.url = "Enter the URL Tally should POST the events to.";
  else if (!/^https?:\/\/[^\s]+$/i.test(text)) errors.url = "The URL must start with http:// or https://.";
  if (types.length === 0) errors.types = "Pick at least one event type.";
  return errors;
}

function AddEndpointForm({ onAdded }: { onAdded: (shown: ShownSecret) => void }) {
  const [url, setUrl] = useState("");
  const [description, setDescription] = useState("");
  const [types, setTypes] = useState<string[]>([]);
  const [errors, setErrors] = useState<FormErrors>({});
  const [status, setStatus] = useState<{ kind: "idle" | "busy" | "done" | "failed"; message?: string }>({ kind: "idle" });
  const [key] = useState(actionKey);

  const toggle = (type: string, on: boolean) => setTypes((current) => accountEventTypes.filter((t) => (t === type ? on : current.includes(t))));

  const submit = async (event: Event) => {
    event.preventDefault();
    const found = validate(url, types);
    setErrors(found);
    if (Object.keys(found).length > 0) return;
    setStatus({ kind: "busy" });
    try {
      const request = { url: url.trim(), eventTypes: types, description: description.trim() };
      const answer = await eventClient.addEndpoint(request, key.options(request));
      key.done();
      setUrl("");
      setDescription("");
      setTypes([]);
      setStatus({ kind: "done", message: `Added ${answer.endpoint?.url ?? request.url}.` });
      onAdded({ url: answer.endpoint?.url ?? request.url, secret: answer.secret, why: "added" });
    } catch (error) {
      setStatus({ kind: "failed", message: describeError(error) });
    }
  };

  return (
    <form class="endpoint-form" onSubmit={submit} noValidate aria-labelledby="add-endpoint-title">
      <div class="endpoint-form__row">
        <div class="field">
          <label for="endpoint-url">URL</label>
          <input
            id="endpoint-url"
            class="input mono"
            type="url"
            inputMode="url"
            autocomplete="off"
            spellcheck={false}
            placeholder="https://platform.example/tally-events"
            value={url}
            aria-invalid={errors.url ? "true" : "false"}
            aria-describedby={errors.url ? "endpoint-url-error" : undefined}
            onInput={(e) => setUrl(e.currentTarget.value)}
          />
          {errors.url && (
            <p id="endpoint-url-error" class="field-error">
              {errors.url}
            </p>
          )}
        </div>
        <div class="field">
          <label for="endpoint-description">
            Description <span class="optional">(optional)</span>
          </label>
          <input id="endpoint-description" class="input" type="text" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </div>
      </div>
      <fieldset class="event-types" aria-describedby={errors.types ? "endpoint-types-error" : undefined}>
        <legend>Event types</legend>
        {accountEventTypes.map((type) => (
          <label key={type} class="event-types__option">
            <input type="checkbox" checked={types.includes(type)} onChange={(e) => toggle(type, e.currentTarget.checked)} />
            <code>{type}</code>
            <span class="muted event-types__hint">{eventTypeHints[type]}</span>
          </label>
        ))}
        {errors.types && (
          <p id="endpoint-types-error" class="field-error">
            {errors.types}
          </p>
        )}
      </fieldset>
      <div class="form-actions">
        <button class="button button--primary" type="submit" disabled={status.kind === "busy"}>
          {status.kind === "busy" ? "Adding…" : "Add endpoint"}
        </button>
        <p class={`form-status form-status--${status.kind}`} role="status" aria-live="polite">
          {status.message ?? ""}
        </p>
      </div>
    </form>
  );
}
