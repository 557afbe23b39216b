import * as fs from 'fs';
import * as path from 'path';
import { spawn } from 'child_process';
import { openSafetensors } from '@altclip/checkpoint';
import { tmpDir } from '@altclip/test-utils';

const CHILD = [path.join(__dirname, 'child', 'register-ts.js'), path.join(__dirname, 'child', 'train-child.ts')];

function run(args: string[], onLine?: (line: string, kill: (sig: NodeJS.Signals) => void) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['-r', CHILD[0], CHILD[1], ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let buf = '';
    p.stdout.on('data', (d) => {
      out += d;
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        onLine?.(line, (sig) => p.kill(sig));
      }
    });
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code, signal) => resolve({ code, signal, out, err }));
  });
}

async function assertReadable(runDir: string): Promise<number> {
  const name = fs.readFileSync(path.join(runDir, 'checkpoints', 'latest'), 'utf8').trim();
  const ck = path.join(runDir, 'checkpoints', name);
  const st = JSON.parse(fs.readFileSync(path.join(ck, 'trainer_state.json'), 'utf8'));
  for (const f of ['model.safetensors', 'optimizer.safetensors']) {
    const r = await openSafetensors(path.join(ck, f));
    for (const k of r.keys()) await r.read(k);
    await r.close();
  }
  expect(name).toBe(`step-${st.step}`);
  return st.step;
}

let dir: string;
beforeAll(() => {
  dir = tmpDir('altclip-signals-');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('SIGTERM to a training process: checkpoint, exit 143 with a message; --resume finishes with the uninterrupted losses', async () => {
  const ref = await run([path.join(dir, 'ref'), 'normal']);
  expect(ref.code).toBe(0);
  const refLosses: number[] = JSON.parse(ref.out.trim().split('\n').pop()!.split(' ').slice(3).join(' '));
  const runDir = path.join(dir, 'term');
  let sent = false;
  const a = await run([runDir, 'slow'], (line, kill) => {
    if (!sent && line === 'batch 10') {
      sent = true;
      kill('SIGTERM');
    }
  });
  expect(a.code).toBe(143);
  expect(a.err).toMatch(/SIGTERM received: saving a checkpoint/);
  const step = await assertReadable(runDir);
  expect(step).toBeGreaterThanOrEqual(8);
  expect(step).toBeLessThan(60);
  const b = await run([runDir, 'resume']);
  expect(b.code).toBe(0);
  const tail: number[] = JSON.parse(b.out.trim().split('\n').pop()!.split(' ').slice(3).join(' '));
  const firstPart: number[] = JSON.parse(a.out.trim().split('\n').pop()!.split(' ').slice(3).join(' '));
  const all = [...firstPart, ...tail];
  expect(all.length).toBe(60);
  all.forEach((l, i) => expect(Math.abs(l - refLosses[i])).toBeLessThan(1e-6));
});

test('SIGKILL while checkpoints are being written leaves `latest` on a complete, readable checkpoint', async () => {
  const runDir = path.join(dir, 'kill');
  let killed = false;
  const r = await run([runDir, 'forever'], (line, kill) => {
    // A checkpoint is written after every step, so a kill at any moment may land inside a write.
    if (!killed && line === 'batch 25') {
      killed = true;
      setTimeout(() => kill('SIGKILL'), 7);
    }
  });
  expect(r.signal).toBe('SIGKILL');
  const step = await assertReadable(runDir);
  expect(step).toBeGreaterThanOrEqual(1);
});

test('SIGTERM while the final model is written: it is finished (under the run lock), then the process exits', async () => {
  const runDir = path.join(dir, 'final');
  let sent = false;
  const r = await run([runDir, 'final'], (line, kill) => {
    if (!sent && line.startsWith('finalizing')) {
      sent = true;
      kill('SIGTERM');
    }
  });
  expect(r.out).toContain('finalizing locked');
  expect(r.out).toContain('final written');
  expect(r.err).toMatch(/SIGTERM received: the run is complete; finishing the final model/);
  expect(r.code).toBe(0);
  expect(fs.readFileSync(path.join(runDir, 'final', 'model.txt'), 'utf8')).toBe('weights');
  expect(fs.readdirSync(runDir).filter((e) => e.startsWith('final.'))).toEqual([]);
  expect(fs.existsSync(path.join(runDir, '.lock'))).toBe(false);
});

test('a final model left half written by a killed process is removed by the next writer', async () => {
  const { writeFinalModel } = await import('../src');
  const runDir = path.join(dir, 'stale-final');
  fs.mkdirSync(path.join(runDir, 'final.tmp-999999999'), { recursive: true });
  fs.writeFileSync(path.join(runDir, 'final.tmp-999999999', 'model.safetensors'), 'half');
  await writeFinalModel(runDir, async (d) => {
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'model.txt'), 'new');
  });
  expect(fs.readdirSync(runDir).sort()).toEqual(['final']);
  expect(fs.readFileSync(path.join(runDir, 'final', 'model.txt'), 'utf8')).toBe('new');
});
