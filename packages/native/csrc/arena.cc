#include "arena.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

namespace altclip {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kSmallMax = 32 * 1024;
constexpr size_t kSlab = 256 * 1024;
constexpr size_t kFail = (size_t)-1;

// Small size classes: 64-byte steps to 1 KiB, then four steps per power of two up to 32 KiB.
size_t classSize(size_t n) {
  if (n <= 1024) return n <= 64 ? 64 : (n + 63) & ~(size_t)63;
  size_t p = 1024;
  while (p * 2 < n) p *= 2;
  size_t step = p / 4;
  return (n + step - 1) / step * step;
}
int classIndex(size_t cs) {
  if (cs <= 1024) return (int)(cs / 64) - 1;  // 0..15
  int idx = 16;
  size_t p = 1024;
  while (p * 2 < cs) {
    p *= 2;
    idx += 4;
  }
  return idx + (int)((cs - p) / (p / 4)) - 1;
}
constexpr int kClasses = 16 + 4 * 5;  // up to 32 KiB

struct FreeBlock {
  size_t size;
  size_t resident;  // upper bound on bytes of this block whose pages may still be in memory
};

struct Arena {
  char* base = nullptr;
  size_t size = 0;
  size_t top = 0;
  size_t live = 0, peakLive = 0, cached = 0, cacheCap = 256u << 20;
  size_t allocs = 0, frees = 0, releases = 0;
  std::unordered_map<size_t, size_t> liveBlocks;  // offset -> rounded size
  std::map<size_t, FreeBlock> freeByAddr;
  std::set<std::pair<size_t, size_t>> freeBySize;      // (size, offset)
  std::set<std::pair<size_t, size_t>> residentBySize;  // (resident bytes, offset) for blocks with resident > 0
  std::vector<size_t> smallFree[kClasses];
};

Arena A;

void insertFree(size_t off, FreeBlock b) {
  A.freeByAddr[off] = b;
  A.freeBySize.insert({b.size, off});
  if (b.resident) A.residentBySize.insert({b.resident, off});
  A.cached += b.resident;
}

FreeBlock eraseFree(std::map<size_t, FreeBlock>::iterator it) {
  FreeBlock b = it->second;
  A.freeBySize.erase({b.size, it->first});
  if (b.resident) A.residentBySize.erase({b.resident, it->first});
  A.cached -= b.resident;
  A.freeByAddr.erase(it);
  return b;
}

void release(size_t off) {
  auto it = A.freeByAddr.find(off);
  if (it == A.freeByAddr.end() || !it->second.resident) return;
  madvise(A.base + off, it->second.size, MADV_DONTNEED);
  FreeBlock b = eraseFree(it);
  b.resident = 0;
  insertFree(off, b);
  A.releases++;
}

void enforceCap() {
  while (A.cached > A.cacheCap && !A.residentBySize.empty()) release(std::prev(A.residentBySize.end())->second);
}

// Where a block of n bytes can start inside [off, off + size) without crossing a segment boundary (JS views are
// per 4 GiB segment, see arena.h), or kFail.
size_t placeIn(size_t off, size_t size, size_t n) {
  size_t segEnd = (off / kArenaSegment + 1) * kArenaSegment;
  size_t at = off + n <= segEnd ? off : segEnd;
  return at + n <= off + size ? at : kFail;
}

size_t largeAlloc(size_t n) {
  if (n > kArenaSegment) return kFail;
  for (auto it = A.freeBySize.lower_bound({n, 0}); it != A.freeBySize.end(); ++it) {
    size_t off = it->second;
    size_t at = placeIn(off, it->first, n);
    if (at == kFail) continue;
    FreeBlock b = eraseFree(A.freeByAddr.find(off));
    // Residency is tracked per block, not per page: split it proportionally (an estimate for the cache cap).
    auto part = [&](size_t len) { return b.size ? (size_t)((double)b.resident * ((double)len / (double)b.size)) : 0; };
    if (at > off) insertFree(off, {at - off, part(at - off)});
    if (at + n < off + b.size) insertFree(at + n, {off + b.size - at - n, part(off + b.size - at - n)});
    return at;
  }
  size_t at = placeIn(A.top, A.size - A.top, n);
  if (at == kFail) return kFail;
  if (at > A.top) insertFree(A.top, {at - A.top, 0});  // the unused tail of a segment
  A.top = at + n;
  return at;
}

void largeFree(size_t off, size_t n) {
  FreeBlock b{n, n};
  auto next = A.freeByAddr.find(off + n);
  if (next != A.freeByAddr.end()) {
    FreeBlock nb = eraseFree(next);
    b.size += nb.size;
    b.resident += nb.resident;
  }
  auto prev = A.freeByAddr.lower_bound(off);
  if (prev != A.freeByAddr.begin()) {
    --prev;
    if (prev->first + prev->second.size == off) {
      size_t poff = prev->first;
      FreeBlock pb = eraseFree(prev);
      pb.size += b.size;
      pb.resident += b.resident;
      insertFree(poff, pb);
      enforceCap();
      return;
    }
  }
  insertFree(off, b);
  enforceCap();
}

}  // namespace

bool arenaInit(size_t bytes, std::string* err) {
  if (A.base) return true;
  const size_t huge = 2u << 20;
  bytes = (bytes + huge - 1) / huge * huge;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    if (err) *err = std::string("mmap of ") + std::to_string(bytes >> 20) + " MiB of address space failed: " + std::strerror(errno);
    return false;
  }
  A.base = static_cast<char*>(p);
  A.size = bytes;
  return true;
}

bool arenaReady() { return A.base != nullptr; }
char* arenaBase() { return A.base; }
size_t arenaSize() { return A.size; }

size_t arenaAlloc(size_t bytes) {
  if (!A.base) return kFail;
  if (bytes == 0) bytes = 1;
  size_t off, n;
  if (bytes <= kSmallMax) {
    n = classSize(bytes);
    auto& list = A.smallFree[classIndex(n)];
    if (list.empty()) {
      size_t slab = largeAlloc(kSlab);
      if (slab == kFail) return kFail;
      for (size_t o = slab + kSlab / n * n; o > slab;) list.push_back(o -= n);
    }
    off = list.back();
    list.pop_back();
  } else {
    n = (bytes + kPage - 1) / kPage * kPage;
    off = largeAlloc(n);
    if (off == kFail) return kFail;
  }
  A.liveBlocks[off] = n;
  A.live += n;
  if (A.live > A.peakLive) A.peakLive = A.live;
  A.allocs++;
  return off;
}

bool arenaFree(size_t offset) {
  auto it = A.liveBlocks.find(offset);
  if (it == A.liveBlocks.end()) return false;
  size_t n = it->second;
  A.liveBlocks.erase(it);
  A.live -= n;
  A.frees++;
  if (n <= kSmallMax) A.smallFree[classIndex(n)].push_back(offset);
  else largeFree(offset, n);
  return true;
}

size_t arenaBlockSize(size_t offset) {
  auto it = A.liveBlocks.find(offset);
  return it == A.liveBlocks.end() ? 0 : it->second;
}

ArenaStats arenaStats() { return {A.size, A.live, A.peakLive, A.cached, A.cacheCap, A.top, A.allocs, A.frees, A.releases}; }
void arenaResetPeak() { A.peakLive = A.live; }
void arenaSetCacheCap(size_t bytes) {
  A.cacheCap = bytes;
  enforceCap();
}
void arenaTrim() {
  while (!A.residentBySize.empty()) release(A.residentBySize.begin()->second);
}

}  // namespace altclip
