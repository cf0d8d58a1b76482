// SPDX-License-Identifier: GPL-2.0-or-later
// Memory for big lookup tables: transparent huge pages where the kernel gives them (one TLB entry
// per 2 MB instead of 512), and an arena that grows in place instead of being copied.
#pragma once

#include <cstddef>  // std::size_t
#include <cstdint>  // std::uint8_t
#include <vector>   // std::vector

namespace flowacct::memory {

/// From 2 MB up, a block on 2 MB boundaries with transparent huge pages asked for (madvise);
/// smaller blocks from operator new, aligned to `align`. Throws std::bad_alloc.
void* huge_allocate(std::size_t bytes, std::size_t align);
/// Frees what huge_allocate(`bytes`, `align`) returned.
void huge_deallocate(void* p, std::size_t bytes, std::size_t align) noexcept;

template <class T> struct HugeAllocator {
    using value_type = T;
    HugeAllocator() = default;
    template <class U> HugeAllocator(const HugeAllocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return static_cast<T*>(huge_allocate(n * sizeof(T), alignof(T))); }
    void deallocate(T* p, std::size_t n) noexcept { huge_deallocate(p, n * sizeof(T), alignof(T)); }
    template <class U> bool operator==(const HugeAllocator<U>&) const noexcept { return true; }
};

template <class T> using HugeVector = std::vector<T, HugeAllocator<T>>;

/// A byte array that grows without moving while it stays within the address space reserved at
/// construction (only what is written takes memory), on huge pages. Past the reservation it
/// moves (mremap: the pages are remapped, not copied). Bytes reused after clear() keep their
/// old contents.
class GrowingArena {
public:
    /// Reserves address space for `expected` bytes (rounded up to 2 MB); nothing is touched yet.
    explicit GrowingArena(std::size_t expected);
    ~GrowingArena();
    GrowingArena(const GrowingArena&) = delete;
    GrowingArena& operator=(const GrowingArena&) = delete;

    std::uint8_t* data() { return base_; }
    const std::uint8_t* data() const { return base_; }
    std::size_t size() const { return size_; }
    /// Bytes written at least once since construction (what the arena holds in memory).
    std::size_t touched() const { return touched_; }
    /// Adds `bytes` at the end and returns them; throws std::bad_alloc when memory runs out.
    std::uint8_t* append(std::size_t bytes) {
        if (size_ + bytes > reserved_) grow(size_ + bytes);
        std::uint8_t* p = base_ + size_;
        size_ += bytes;
        if (size_ > touched_) touched_ = size_;
        return p;
    }
    /// Forgets the contents and keeps the memory for reuse.
    void clear() { size_ = 0; }

private:
    void grow(std::size_t need);

    std::uint8_t* base_ = nullptr;
    std::size_t size_ = 0;
    std::size_t touched_ = 0;
    std::size_t reserved_ = 0;
};

} // namespace flowacct::memory
