export { buildCli, main } from './main';
