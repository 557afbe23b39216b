import type { CommandModule } from 'yargs';
import { infoCommand } from './info';

/** Every `altclip` command, in the order --help lists them. */
export const commands: CommandModule<any, any>[] = [infoCommand];
