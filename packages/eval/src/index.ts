export * from './metrics';
export * from './templates';
export * from './sets-io';
export * from './model-types';
export * from './classifier';
export * from './evaluate';

export * from './pipeline';
