import { tensorflowStatus } from '@altclip/backend';

/**
 * ['tensorflow'] when @tensorflow/tfjs-node(-gpu) loads here (for the backend lists of the parity, training and
 * evaluation suites), else [] plus one skipped test whose title says what is missing and how to enable it (a
 * visible line in the test output instead of a silent gap). Call at the top level of a test file.
 */
export function tensorflowIfAvailable(suite: string): Array<'tensorflow'> {
  const s = tensorflowStatus();
  if (s.available) return ['tensorflow'];
  const note = `${suite}: the 'tensorflow' backend is not tested: ${s.why}`;
  console.log(note);
  test.skip(note, () => undefined);
  return [];
}

/** describe(`${title} on tensorflow`, ...) when tfjs-node loads here, else the skipped note (jest refuses an empty describe.each). */
export function describeOnTensorflow(title: string, fn: (backend: 'tensorflow') => void): void {
  for (const backend of tensorflowIfAvailable(title)) describe(`${title} on ${backend}`, () => fn(backend));
}
