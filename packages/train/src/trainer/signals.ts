/** The signal phase: SIGINT/SIGTERM finish the current step, checkpoint and stop; a second signal exits at once. */

export type StopSignal = 'SIGINT' | 'SIGTERM';

export interface SignalWatch {
  /** The signal that asked the run to stop, if any. */
  readonly requested: StopSignal | undefined;
  /** From now on a first signal waits for the final model to be written (there is no step left to stop after). */
  finishing(): void;
  /** Removes the handlers. */
  dispose(): void;
}

/** Installs the handlers (when `install`); the run checks `requested` after each step. */
export function watchSignals(install: boolean, log: (s: string) => void): SignalWatch {
  let requested: StopSignal | undefined;
  let finishing = false;
  const onSignal = (sig: StopSignal) => {
    if (requested) {
      // Checkpoint and final-model writes are atomic: quitting now loses work in progress, never a saved model.
      process.stderr.write(`\n${sig} again: exiting without waiting for the ${finishing ? 'final model' : 'checkpoint'}\n`);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    }
    requested = sig;
    if (finishing) log(`${sig} received: the run is complete; finishing the final model, then exiting (send it again to quit at once)`);
    else log(`${sig} received: saving a checkpoint after this step, then stopping (send it again to quit at once)`);
  };
  const handlers = { SIGINT: () => onSignal('SIGINT'), SIGTERM: () => onSignal('SIGTERM') };
  if (install) for (const [s, h] of Object.entries(handlers)) process.on(s, h);
  return {
    get requested() {
      return requested;
    },
    finishing: () => {
      finishing = true;
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
