// A half-circle gauge of the balance against the spending limit (role="meter" for assistive tech).
import { formatCredits } from "../format.js";

export type LimitState = "ok" | "almost" | "reached";

/** SPEC.md: a limit is reached when balance is at least the limit; almost reached above 80 %. */
export function limitState(balanceCredits: number, limitCredits: number): LimitState {
  if (balanceCredits >= limitCredits) return "reached";
  if (balanceCredits > 0.8 * limitCredits) return "almost";
  return "ok";
}

const radius = 80;
const arcLength = Math.PI * radius;

export function Gauge({ balanceCredits, limitCredits }: { balanceCredits: number; limitCredits: number }) {
  const state = limitState(balanceCredits, limitCredits);
  const fraction = limitCredits > 0 ? Math.min(Math.max(balanceCredits / limitCredits, 0), 1) : state === "reached" ? 1 : 0;
  const percent = limitCredits > 0 ? Math.round((balanceCredits / limitCredits) * 100) : undefined;
  const valueText =
    `${formatCredits(balanceCredits)} of ${formatCredits(limitCredits)} credits used` + (percent === undefined ? "" : ` (${percent} %)`);
  return (
    <div
      class={`gauge gauge--${state}`}
      role="meter"
      aria-label="Balance against spending limit"
      aria-valuemin={0}
      aria-valuemax={Math.max(limitCredits, 0)}
      aria-valuenow={Math.min(Math.max(balanceCredits, 0), Math.max(limitCredits, 0))}
      aria-valuetext={valueText}
    >
      <svg viewBox="0 0 200 112" aria-hidden="true" focusable="false">
        <path class="gauge__track" d={`M 20 100 A ${radius} ${radius} 0 0 1 180 100`} />
        <path
          class="gauge__value"
          d={`M 20 100 A ${radius} ${radius} 0 0 1 180 100`}
          stroke-dasharray={`${arcLength}`}
          stroke-dashoffset={`${arcLength * (1 - fraction)}`}
        />
      </svg>
      <div class="gauge__center">
        <div class="gauge__value-text" data-testid="balance">{formatCredits(balanceCredits)}</div>
        <div class="gauge__caption">
          of {formatCredits(limitCredits)} credits{percent === undefined ? "" : ` · ${percent} %`}
        </div>
      </div>
    </div>
  );
}
