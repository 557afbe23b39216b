import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { fixture, tmpDir } from '@altclip/test-utils';
import { downloadCifar10, extractTarGz, readCifar10 } from '@altclip/data';

function hasTar(): boolean {
  try {
    execFileSync('tar', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const work = tmpDir();
afterAll(() => fs.rmSync(work, { recursive: true }));

/** An archive shaped like the official one (cifar-10-batches-bin/ prefix), built by the system tar. */
function makeArchive(): string {
  const src = path.join(work, 'src', 'cifar-10-batches-bin');
  fs.mkdirSync(src, { recursive: true });
  for (const f of ['data_batch_1.bin', 'test_batch.bin', 'batches.meta.txt']) fs.copyFileSync(fixture('cifar10_bin', f), path.join(src, f));
  // A long name exercises the ustar prefix / GNU long-name paths of the reader.
  fs.writeFileSync(path.join(src, `${'n'.repeat(120)}.html`), 'readme');
  const archive = path.join(work, 'cifar-10-binary.tar.gz');
  execFileSync('tar', ['czf', archive, '-C', path.join(work, 'src'), 'cifar-10-batches-bin']);
  return archive;
}

(hasTar() ? describe : describe.skip)('tar.gz extraction and checked download (system tar needed to build the archive)', () => {
  let archive: string;
  let server: http.Server;
  let url: string;
  beforeAll(async () => {
    archive = makeArchive();
    server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/gzip' });
      fs.createReadStream(archive).pipe(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as any).port}/cifar-10-binary.tar.gz`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  test('extractTarGz writes every file byte-identical', async () => {
    const out = path.join(work, 'x');
    const files = await extractTarGz(archive, out);
    expect(files.length).toBe(4);
    for (const f of ['data_batch_1.bin', 'test_batch.bin']) {
      expect(fs.readFileSync(path.join(out, 'cifar-10-batches-bin', f)).equals(fs.readFileSync(fixture('cifar10_bin', f)))).toBe(true);
    }
    expect(fs.readFileSync(path.join(out, 'cifar-10-batches-bin', `${'n'.repeat(120)}.html`), 'utf8')).toBe('readme');
  });

  test('downloadCifar10 checks md5 + size, unpacks, and the result reads as CIFAR-10', async () => {
    const buf = fs.readFileSync(archive);
    const md5 = crypto.createHash('md5').update(buf).digest('hex');
    const dir = path.join(work, 'dl');
    const folder = await downloadCifar10(dir, { url, md5, size: buf.length });
    expect(folder).toBe(path.join(dir, 'cifar-10-batches-bin'));
    const ds = readCifar10(dir, { split: 'test' });
    expect(ds.size).toBe(fs.statSync(fixture('cifar10_bin', 'test_batch.bin')).size / 3073);
    ds.close();
  });

  test('a checksum mismatch is an error and leaves no archive behind', async () => {
    const dir = path.join(work, 'bad');
    await expect(downloadCifar10(dir, { url, md5: '0'.repeat(32), size: fs.statSync(archive).size })).rejects.toThrow(/failed its check.*md5/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

test('offline: the error says to pass a local folder', async () => {
  // Port 9 (discard) on localhost: connection refused, like a machine without network.
  await expect(downloadCifar10(path.join(work, 'off'), { url: 'http://127.0.0.1:9/cifar-10-binary.tar.gz', timeoutMs: 5000 })).rejects.toThrow(
    /could not download CIFAR-10.*local folder/s,
  );
});
