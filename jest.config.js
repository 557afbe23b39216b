// tfjs-node (the `tensorflow` backend) reads these from the real environment, which a test file's process.env
// (a copy) cannot set: TensorFlow's INFO lines off, GPU memory taken as needed so both workers fit on one GPU, and
// full float32 on GPUs with TF32 (the parity tolerances assume it). The same defaults as setupBackend's.
process.env.TF_CPP_MIN_LOG_LEVEL ??= '1';
process.env.TF_FORCE_GPU_ALLOW_GROWTH ??= 'true';
process.env.NVIDIA_TF32_OVERRIDE ??= '0';

/** Tests run from TypeScript sources (no build needed); `@altclip/<pkg>` maps to packages/<pkg>/src. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/packages', '<rootDir>/examples'],
  testMatch: ['**/test/**/*.test.ts'],
  transform: {
    '^.+\\.(t|j)s$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: ['/node_modules/'],
  moduleNameMapper: {
    '^@altclip/test-utils$': '<rootDir>/test-utils/index.ts',
    '^@altclip/([a-z-]+)$': '<rootDir>/packages/$1/src/index.ts',
  },
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  maxWorkers: 2,
  testTimeout: 120000,
};
