import type { CommandModule } from 'yargs';
import { infoCommand } from './info';
import { convertCommand } from './convert';
import { evalCommand } from './eval';
import { predictCommand } from './predict';
import { embedCommand } from './embed';
import { demoCommand } from './demo';
import { contrastiveCommand, distillCommand, finetuneCommand } from './train';
import { reportCommand } from './report';
import { shardsCommand } from './shards';

/** Every `altclip` command, in the order --help lists them. */
export const commands: CommandModule[] = [infoCommand, convertCommand, evalCommand, predictCommand, embedCommand, demoCommand, distillCommand, contrastiveCommand, finetuneCommand, reportCommand, shardsCommand];
