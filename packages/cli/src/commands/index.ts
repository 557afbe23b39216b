import type { CommandModule } from 'yargs';
import { infoCommand } from './info';
import { convertCommand } from './convert';

/** Every `altclip` command, in the order --help lists them. */
export const commands: CommandModule<any, any>[] = [infoCommand, convertCommand];
