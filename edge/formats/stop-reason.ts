// Why a model stopped, in both vocabularies. Anthropic: end_turn, max_tokens, stop_sequence,
// tool_use, pause_turn, refusal (https://docs.anthropic.com/en/api/handling-stop-reasons);
// OpenAI: stop, length, tool_calls, content_filter, function_call.

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';
export type AnthropicStopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'refusal';

export function finishReasonFromStop(stop: string | null | undefined): FinishReason | null {
  if (stop === null || stop === undefined) return null;
  switch (stop) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    // end_turn, stop_sequence, pause_turn and reasons added later: the model stopped on its own.
    default:
      return 'stop';
  }
}

/** OpenAI does not say whether a stop sequence matched, so `stop` becomes end_turn. */
export function stopReasonFromFinish(finish: string | null | undefined): AnthropicStopReason {
  switch (finish) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}
