// What the fake supplier does on its next requests: the Behaviour type, its defaults, and the
// parsing of a patch sent to POST /__control/behaviour from another process.

export type FailNext = {
  count: number;
  status: number;
  // Sent instead of the default OpenAI error object: a string verbatim (to imitate an HTML error
  // page from a proxy), anything else as JSON.
  body?: unknown;
};

// Faults (failNext, dropConnectionNext, hang, failMidStreamAfterChunks) apply to chat completions
// only, so a client that lists models does not use them up; failMidStreamAfterChunks to streams only.
export type Behaviour = {
  firstByteDelayMs: number;
  interChunkDelayMs: number;
  completionTokens: number;
  // false imitates a supplier that ignores stream_options.include_usage and omits usage.
  reportUsage: boolean;
  failNext: FailNext | null;
  dropConnectionNext: number;
  failMidStreamAfterChunks: number | null;
  hang: boolean;
  toolCall: boolean;
};

export const DEFAULT_BEHAVIOUR: Readonly<Behaviour> = Object.freeze({
  firstByteDelayMs: 0,
  interChunkDelayMs: 0,
  completionTokens: 8,
  reportUsage: true,
  failNext: null,
  dropConnectionNext: 0,
  failMidStreamAfterChunks: null,
  hang: false,
  toolCall: false,
});

export type BehaviourPatchResult =
  | { ok: true; patch: Partial<Behaviour> }
  | { ok: false; message: string };

type FieldCheck = (value: unknown) => boolean;

const isCount = (value: unknown): boolean => Number.isInteger(value) && (value as number) >= 0;
const isBoolean = (value: unknown): boolean => typeof value === 'boolean';

const isFailNext = (value: unknown): boolean => {
  if (value === null) return true;
  if (typeof value !== 'object' || Array.isArray(value)) return false;
  const { count, status } = value as Record<string, unknown>;
  return isCount(count) && Number.isInteger(status) && (status as number) >= 400 && (status as number) <= 599;
};

// A Record over the keys: a new Behaviour field without its check does not compile.
const FIELD_CHECKS: Record<keyof Behaviour, FieldCheck> = {
  firstByteDelayMs: isCount,
  interChunkDelayMs: isCount,
  completionTokens: (value) => isCount(value) && (value as number) >= 1,
  reportUsage: isBoolean,
  failNext: isFailNext,
  dropConnectionNext: isCount,
  failMidStreamAfterChunks: (value) => value === null || isCount(value),
  hang: isBoolean,
  toolCall: isBoolean,
};

const isBehaviourKey = (key: string): key is keyof Behaviour => Object.hasOwn(FIELD_CHECKS, key);

export function parseBehaviourPatch(value: unknown): BehaviourPatchResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, message: 'behaviour must be a JSON object' };
  }
  for (const [key, field] of Object.entries(value)) {
    if (!isBehaviourKey(key)) return { ok: false, message: `unknown behaviour field: ${key}` };
    if (!FIELD_CHECKS[key](field)) return { ok: false, message: `invalid value for behaviour field: ${key}` };
  }
  return { ok: true, patch: value as Partial<Behaviour> };
}

export function mergeBehaviour(current: Readonly<Behaviour>, patch: Partial<Behaviour>): Behaviour {
  const merged: Behaviour = { ...current };
  for (const key of Object.keys(patch)) {
    // undefined means "leave as is", so a spread of optional fields cannot erase a setting.
    if (isBehaviourKey(key) && patch[key] !== undefined) Object.assign(merged, { [key]: patch[key] });
  }
  return merged;
}

export type Fault = { kind: 'none' } | { kind: 'drop' } | { kind: 'hang' } | { kind: 'fail'; failure: FailNext };

// The fault the next chat request meets, and the behaviour left for the requests after it:
// a drop or a failure is used up by the request it hits, a hang lasts until changed.
export function takeFault(current: Readonly<Behaviour>): { fault: Fault; next: Behaviour } {
  const { dropConnectionNext, failNext, hang } = current;
  if (dropConnectionNext > 0) {
    return { fault: { kind: 'drop' }, next: { ...current, dropConnectionNext: dropConnectionNext - 1 } };
  }
  if (failNext) {
    const left = failNext.count > 1 ? { ...failNext, count: failNext.count - 1 } : null;
    return { fault: { kind: 'fail', failure: failNext }, next: { ...current, failNext: left } };
  }
  return { fault: { kind: hang ? 'hang' : 'none' }, next: { ...current } };
}
