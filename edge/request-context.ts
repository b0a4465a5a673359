// What a request carries through the edge's middleware into its handlers.

import type { KeyEntry, ManifestPayload } from '../shared/manifest.ts';
import type { UsageRecorder } from './usage-event.ts';

export interface EdgeEnv {
  Variables: {
    requestId: string;
    startedMs: number;
    manifest: ManifestPayload;
    key: KeyEntry;
    usage: UsageRecorder;
  };
}
