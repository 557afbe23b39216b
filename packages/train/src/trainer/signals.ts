/** The signal phase: SIGINT/SIGTERM finish the current step, checkpoint and stop; a second signal exits at once. */

export type StopSignal = 'SIGINT' | 'SIGTERM';

export interface SignalWatch {
  /** The signal that asked the run to stop, if any. */
  readonly requested: StopSignal | undefined;
  /** Removes the handlers. */
  dispose(): void;
}

/** Installs the handlers (when `install`); the run checks `requested` after each step. */
export function watchSignals(install: boolean, log: (s: string) => void): SignalWatch {
  let requested: StopSignal | undefined;
  const onSignal = (sig: StopSignal) => {
    if (requested) {
      // Checkpoint writes are atomic: quitting now loses the current step, never a checkpoint.
      process.stderr.write(`\n${sig} again: exiting without waiting for the checkpoint\n`);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }
    requested = sig;
    log(`${sig} received: saving a checkpoint after this step, then stopping (send it again to quit at once)`);
  };
  const handlers = { SIGINT: () => onSignal('SIGINT'), SIGTERM: () => onSignal('SIGTERM') };
  if (install) for (const [s, h] of Object.entries(handlers)) process.on(s, h);
  return {
    get requested() {
      return requested;
    },
    dispose: () => {
      if (install) for (const [s, h] of Object.entries(handlers)) process.off(s, h);
    },
  };
}

/**
 * Steps can be fully synchronous (tensors on the main thread, batches ready): yielding once lets a SIGINT or SIGTERM
 * that arrived during the step be delivered now, not at the next real I/O.
 */
export function deliverPendingSignals(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
