// SPDX-License-Identifier: GPL-2.0-or-later
// Memory for big lookup tables: huge-page blocks and the growing arena.
#include "huge_pages.hpp"

#include <sys/mman.h> // mmap, mremap, munmap, madvise

#include <cstdint>    // std::uintptr_t
#include <new>        // std::align_val_t, std::bad_alloc

namespace flowacct::memory {

namespace {

constexpr std::size_t kHugePage = std::size_t{2} << 20;

std::size_t round_up(std::size_t bytes) { return (bytes + kHugePage - 1) & ~(kHugePage - 1); }

// `rounded` bytes (a multiple of 2 MB) of address space on a 2 MB boundary, with huge pages asked
// for. `flags` adds to MAP_PRIVATE | MAP_ANONYMOUS. Null when the kernel refuses.
void* map_aligned(std::size_t rounded, int flags) {
    // Map a huge page more than needed and trim, so the block starts on a 2 MB boundary.
    void* raw = mmap(nullptr, rounded + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    auto start = reinterpret_cast<std::uintptr_t>(raw);
    auto aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
    if (aligned > start) munmap(raw, aligned - start);
    std::size_t tail = start + rounded + kHugePage - (aligned + rounded);
    if (tail) munmap(reinterpret_cast<void*>(aligned + rounded), tail);
    // A hint: where the kernel gives no huge pages the table works the same, with TLB misses.
    madvise(reinterpret_cast<void*>(aligned), rounded, MADV_HUGEPAGE);
    return reinterpret_cast<void*>(aligned);
}

} // namespace

void* huge_allocate(std::size_t bytes, std::size_t align) {
    if (bytes < kHugePage) return ::operator new(bytes, std::align_val_t(align));
    void* p = map_aligned(round_up(bytes), 0);
    if (!p) throw std::bad_alloc();
    return p;
}

void huge_deallocate(void* p, std::size_t bytes, std::size_t align) noexcept {
    if (!p) return;
    if (bytes < kHugePage) {
        ::operator delete(p, std::align_val_t(align));
        return;
    }
    munmap(p, round_up(bytes));
}

GrowingArena::GrowingArena(std::size_t expected) {
    reserved_ = round_up(expected < kHugePage ? kHugePage : expected);
    // Address space only: pages are given (zeroed) when first written, so a reservation far above
    // what a table reaches costs nothing. Where the kernel refuses (strict overcommit), start small.
    void* p = map_aligned(reserved_, MAP_NORESERVE);
    if (!p) {
        reserved_ = kHugePage;
        p = map_aligned(reserved_, 0);
        if (!p) throw std::bad_alloc();
    }
    base_ = static_cast<std::uint8_t*>(p);
}

GrowingArena::~GrowingArena() {
    if (base_) munmap(base_, reserved_);
}

void GrowingArena::grow(std::size_t need) {
    std::size_t bigger = reserved_;
    while (bigger < need) bigger *= 2;
    void* p = mremap(base_, reserved_, bigger, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) throw std::bad_alloc();
    base_ = static_cast<std::uint8_t*>(p);
    reserved_ = bigger;
    madvise(base_, reserved_, MADV_HUGEPAGE);
}

} // namespace flowacct::memory
