export * from './schedules';
export * from './adamw';
export * from './params';
export * from './grads';
export * from './rng';
export * from './run';
export * from './progress';
export * from './trainer';
