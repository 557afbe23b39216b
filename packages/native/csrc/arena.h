// The native backend's memory: one large virtual reservation (mmap, MAP_NORESERVE, so untouched pages cost
// nothing) handed out in 64-byte aligned blocks. JS sees it as one external ArrayBuffer; a tensor is a byte offset
// into it, so every kernel that takes (heap, offset) works on it unchanged, and freeing is immediate and
// deterministic (no garbage collector in between), which is what makes memory plannable at the 10+ GiB scale.
//
// Small blocks (<= 32 KiB) come from per-size-class free lists carved out of 256 KiB slabs and are never returned
// to the OS. Large blocks are page multiples, best fit with coalescing; their freed pages stay resident (a cache
// that saves the page faults of re-touching them) up to a cap, beyond which the largest cached free blocks are
// released with madvise(MADV_DONTNEED).
#pragma once
#include <cstddef>
#include <string>

namespace altclip {

// JS can view at most 4 GiB of external memory per ArrayBuffer (Node's limit), so the arena is exposed as segments
// of this size and no block crosses a segment boundary (one tensor is at most 4 GiB).
constexpr size_t kArenaSegment = (size_t)1 << 32;

struct ArenaStats {
  size_t reserved;   // bytes of virtual address space
  size_t live;       // bytes in allocated blocks (rounded sizes)
  size_t peakLive;   // high-water mark of live since the last resetPeak
  size_t cached;     // free bytes whose pages may still be resident
  size_t cacheCap;   // cap on cached
  size_t top;        // bytes of the reservation ever handed out (high-water address)
  size_t allocs, frees, releases;
};

// Reserves `bytes` of address space (rounded up to 2 MiB). false + err on failure. Idempotent once it succeeded.
bool arenaInit(size_t bytes, std::string* err);
bool arenaReady();
char* arenaBase();
size_t arenaSize();

// Offset of a new block of at least `bytes` (64-byte aligned), or (size_t)-1 when the reservation is exhausted.
size_t arenaAlloc(size_t bytes);
// Frees a block returned by arenaAlloc. false when `offset` is not a live block (double free, foreign offset).
bool arenaFree(size_t offset);
// Usable size of the live block at `offset` (0 when not live).
size_t arenaBlockSize(size_t offset);

ArenaStats arenaStats();
void arenaResetPeak();
void arenaSetCacheCap(size_t bytes);
// Releases every cached free page to the OS.
void arenaTrim();

}  // namespace altclip
