/** Every checkpoint problem is reported as `<file>: <what is wrong>`. */
export class CheckpointError extends Error {
  constructor(readonly file: string, message: string, options?: ErrorOptions) {
    super(`${file}: ${message}`, options);
    this.name = 'CheckpointError';
  }
}
